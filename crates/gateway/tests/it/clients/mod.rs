//! Real clients we did not write (Codex CLI, the OpenAI Agents SDK, Claude Code, the Vercel AI
//! SDK) driven against the gateway with fake upstreams, asserting on their answers.
