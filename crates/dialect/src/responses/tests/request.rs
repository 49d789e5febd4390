//! Request-side tests: what Responses clients send, decoded; what OpenAI gets, encoded.
