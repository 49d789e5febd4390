//! OpenAI Responses API bodies and event streams as OpenAI writes them, for fake replies.
