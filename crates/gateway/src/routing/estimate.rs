//! A fast estimate of a prompt's size in tokens, for providers that cannot count (Anthropic's
//! `count_tokens` on another provider) and, later, context-window checks and budgets. About
//! four bytes of English or code per token; deliberately a little high rather than low.

use dialect::{ChatRequest, Part};

/// What one image costs at most on the providers that publish a formula (≈1.15 MP → ~1,600).
const IMAGE_TOKENS: u64 = 1_600;
/// Role markers and separators around each message.
const PER_MESSAGE: u64 = 4;
/// The preamble a provider adds when tools are declared.
const TOOLS_PREAMBLE: u64 = 300;

pub fn prompt_tokens(req: &ChatRequest) -> u64 {
    tokens_of(req, req.messages.len())
}

/// The estimate for everything before the last message: the part a provider can cache.
pub fn prefix_tokens(req: &ChatRequest) -> u64 {
    tokens_of(req, req.messages.len().saturating_sub(1))
}

fn tokens_of(req: &ChatRequest, messages: usize) -> u64 {
    let mut bytes = 0u64;
    let mut fixed = 0u64;
    for part in &req.system {
        part_size(part, &mut bytes, &mut fixed);
    }
    for message in &req.messages[..messages] {
        fixed += PER_MESSAGE;
        for part in &message.content {
            part_size(part, &mut bytes, &mut fixed);
        }
    }
    if !req.tools.is_empty() {
        fixed += TOOLS_PREAMBLE;
        for tool in &req.tools {
            bytes += (tool.name.len() + tool.description.as_ref().map_or(0, String::len)) as u64;
            bytes += tool.parameters.as_ref().map_or(0, |p| p.to_string().len()) as u64;
        }
    }
    bytes.div_ceil(4) + fixed
}

fn part_size(part: &Part, bytes: &mut u64, fixed: &mut u64) {
    match part {
        Part::Text { text, .. } | Part::Refusal { text } => *bytes += text.len() as u64,
        Part::Reasoning { text, .. } => *bytes += text.len() as u64,
        Part::Image { .. } => *fixed += IMAGE_TOKENS,
        Part::ToolCall { name, arguments, .. } => *bytes += (name.len() + arguments.len()) as u64,
        Part::ToolResult { content, .. } => {
            for p in content {
                part_size(p, bytes, fixed);
            }
        }
        Part::Raw { value, .. } => *bytes += value.to_string().len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialect::{Message, Role};

    fn user(text: &str) -> Message {
        Message { role: Role::User, content: vec![Part::text(text)], name: None, content_was_string: true }
    }

    #[test]
    fn grows_with_the_prompt_and_counts_images_and_tools() {
        let short = ChatRequest { messages: vec![user("Hello there")], ..Default::default() };
        let long = ChatRequest { messages: vec![user(&"word ".repeat(1000))], ..Default::default() };
        assert_eq!(prompt_tokens(&short), 3 + PER_MESSAGE);
        assert_eq!(prompt_tokens(&long), 1250 + PER_MESSAGE);
        let mut with_image = short.clone();
        with_image.messages[0].content.push(Part::Image {
            source: dialect::ImageSource::Url { url: "https://x/y.png".into() },
            detail: None,
            cache_control: None,
        });
        assert_eq!(prompt_tokens(&with_image), prompt_tokens(&short) + IMAGE_TOKENS);
        let mut with_tool = short.clone();
        with_tool.tools.push(dialect::Tool {
            name: "get_weather".into(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
            hints: Default::default(),
        });
        assert!(prompt_tokens(&with_tool) > prompt_tokens(&short) + TOOLS_PREAMBLE);
    }
}
