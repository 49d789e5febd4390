//! The operations the attempt loop runs: a chat request and an embeddings request, each sent
//! to one deployment through `upstream`.

use std::time::Duration;

use dialect::{ChatRequest, EmbeddingRequest, EmbeddingResponse};

use super::attempt::Operation;
use crate::app::App;
use crate::error::UpstreamError;
use crate::routing::Deployment;
use crate::upstream::{send_chat, send_embeddings, AttemptContext, ChatReply, Forwarded};

pub(super) struct ChatCall<'a> {
    pub req: &'a ChatRequest,
    pub forwarded: &'a Forwarded,
}

impl Operation for ChatCall<'_> {
    type Output = ChatReply;

    fn streams(&self) -> bool {
        self.req.stream
    }

    async fn send(
        &self,
        app: &App,
        d: &Deployment,
        attempt: &mut AttemptContext,
    ) -> Result<(ChatReply, Option<Duration>), UpstreamError> {
        send_chat(&app.client, d, self.req, self.forwarded, app.config.max_response_bytes, attempt).await
    }
}

pub(super) struct EmbeddingCall<'a> {
    pub req: &'a EmbeddingRequest,
    pub forwarded: &'a Forwarded,
}

impl Operation for EmbeddingCall<'_> {
    type Output = EmbeddingResponse;

    fn streams(&self) -> bool {
        false
    }

    async fn send(
        &self,
        app: &App,
        d: &Deployment,
        attempt: &mut AttemptContext,
    ) -> Result<(EmbeddingResponse, Option<Duration>), UpstreamError> {
        let resp =
            send_embeddings(&app.client, d, self.req, self.forwarded, app.config.max_response_bytes, attempt).await?;
        Ok((resp, None))
    }
}
