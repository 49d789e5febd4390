//! Bedrock Converse egress tests: wire bytes written from protocols.md section 5.
