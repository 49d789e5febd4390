//! `POST /v1/responses` and the stored responses, driven over HTTP against fake upstreams of
//! several provider kinds: what the client gets, what each upstream received, and the
//! conversation state kept between turns.

mod accounting;
mod conversation;
mod persisted;
mod refusals;
