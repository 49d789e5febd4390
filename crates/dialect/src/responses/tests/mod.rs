//! Tests of the Responses API dialect: the request side (decoding clients' requests, encoding
//! OpenAI's) and the reply side (response objects and event streams, both directions).

mod reply;
mod request;
