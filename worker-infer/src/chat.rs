//! A Hugging Face model's chat template (Jinja, from `tokenizer_config.json`) rendered as
//! `transformers`' `apply_chat_template` does, by minijinja: the messages, the special tokens
//! and `add_generation_prompt`. The template comes with the model file, so it is untrusted:
//! minijinja has no I/O, and its fuel and recursion limits stop a template that would loop.

use minijinja::{Environment, Error, ErrorKind, context};
use oarn_protocol::infer::{Generate, Role};

/// Instructions one rendering may spend: a conversation of hundreds of messages takes some
/// thousands; a loop over a huge range runs out.
const FUEL: u64 = 1_000_000;
/// Largest rendered prompt, in bytes.
const MAX_RENDERED: usize = 4 << 20;

/// A model's chat template and the special tokens it may name.
#[derive(Debug)]
pub struct Template {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl Template {
    /// The template of a `tokenizer_config.json`, or `None` when it has none (a base model).
    pub fn from_config(config: &serde_json::Value) -> Result<Option<Self>, String> {
        let source = match config.get("chat_template") {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::String(s)) => s.clone(),
            // A list of named templates: the one named "default", as transformers picks.
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str())
                .ok_or("tokenizer_config.json lists chat templates but none named \"default\"")?
                .to_string(),
            Some(_) => return Err("tokenizer_config.json: chat_template is not a string".into()),
        };
        let token = |key: &str| match config.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            // An AddedToken object: {"content": "<s>", …}.
            Some(v) => v
                .get("content")
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(64);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat", source)
            .map_err(|e| format!("the chat template does not parse: {e}"))?;
        Ok(Some(Self {
            env,
            bos: token("bos_token"),
            eos: token("eos_token"),
        }))
    }

    /// The prompt text of `g`'s conversation, ending where the assistant's answer begins.
    pub fn render(&self, g: &Generate) -> Result<String, String> {
        let mut messages = Vec::new();
        if let Some(system) = &g.system {
            messages.push(context! { role => Role::System.name(), content => system });
        }
        for m in &g.history {
            messages.push(context! { role => m.role.name(), content => &m.content });
        }
        if !g.prompt.is_empty() {
            messages.push(context! { role => Role::User.name(), content => &g.prompt });
        }
        let template = self.env.get_template("chat").map_err(|e| e.to_string())?;
        let text = template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => &self.bos,
                eos_token => &self.eos,
            })
            .map_err(|e| format!("the chat template failed: {e}"))?;
        if text.len() > MAX_RENDERED {
            return Err(format!("the chat template made a prompt of {} bytes", text.len()));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(source: &str) -> Template {
        Template::from_config(&serde_json::json!({"chat_template": source, "eos_token": "<|im_end|>"}))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_chatml_template_renders_the_conversation_and_the_generation_prompt() {
        let t = template(
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        );
        let mut g = Generate::new("m", " What is 2+2? ", 8);
        g.system = Some("Be brief.".into());
        assert_eq!(
            t.render(&g).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn a_template_that_loops_forever_runs_out_of_fuel() {
        let t = template("{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}");
        let e = t.render(&Generate::new("m", "hi", 8)).unwrap_err();
        assert!(e.contains("fuel"), "{e}");
    }

    #[test]
    fn raise_exception_is_an_error_naming_the_templates_message() {
        let t = template("{{ raise_exception('only user and assistant roles are supported') }}");
        let e = t.render(&Generate::new("m", "hi", 8)).unwrap_err();
        assert!(e.contains("only user and assistant"), "{e}");
    }

    #[test]
    fn no_template_is_none_and_a_broken_one_is_an_error() {
        assert!(Template::from_config(&serde_json::json!({})).unwrap().is_none());
        assert!(Template::from_config(&serde_json::json!({"chat_template": "{% for %}"})).is_err());
    }
}
