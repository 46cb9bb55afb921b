//! A generation request and its result as the local API carries them (`oarn_generate`), so
//! `oarn local inference` runs the same request on a running node as on a worker of its own.

use oarn_protocol::infer::{Generate, Generated, Message, Role, Stop};
use serde_json::{Value, json};

/// The API parameters of `g`, naming the model by its store (or Ollama) name.
pub fn request_json(g: &Generate, model: Option<&str>) -> Value {
    json!({
        "model": model,
        "prompt": g.prompt,
        "system": g.system,
        "chat": g.chat,
        "max_tokens": g.max_tokens,
        "temperature_milli": g.temperature_milli,
        "top_k": g.top_k,
        "top_p_milli": g.top_p_milli,
        "seed": g.seed,
        "stop": g.stop,
        "threads": g.threads,
        "deadline_ms": g.deadline_ms,
        "messages": g.history.iter().map(|m| json!({"role": m.role.name(), "content": m.content})).collect::<Vec<_>>(),
    })
}

/// Earlier turns of a conversation: `[{"role": "user"|"assistant"|"system", "content"}]`.
fn messages(v: Option<&Value>) -> Result<Vec<Message>, String> {
    let bad =
        || "messages must be a list of {\"role\": \"system\"|\"user\"|\"assistant\", \"content\": string}".to_string();
    let Some(list) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    list.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|m| {
            let role = [Role::System, Role::User, Role::Assistant]
                .into_iter()
                .find(|r| m.get("role").and_then(Value::as_str) == Some(r.name()))
                .ok_or_else(bad)?;
            let content = m.get("content").and_then(Value::as_str).ok_or_else(bad)?;
            Ok(Message {
                role,
                content: content.to_string(),
            })
        })
        .collect()
}

/// The request in `params` and the model name it gives, if any; an error names the bad field.
pub fn request_from_json(params: &Value) -> Result<(Option<String>, Generate), String> {
    let u32_of = |k: &str, default: u32| -> Result<u32, String> {
        match params.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("{k} must be a whole number")),
        }
    };
    let prompt = params
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or("params need a \"prompt\" string")?;
    let model = match params.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("model must be a string".into()),
    };
    let system = match params.get("system") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("system must be a string".into()),
    };
    let stop = match params.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or("stop must be a list of strings"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("stop must be a list of strings".into()),
    };
    let g = Generate {
        system,
        chat: params.get("chat").and_then(Value::as_bool).unwrap_or(true),
        temperature_milli: u32_of("temperature_milli", 0)?,
        top_k: u32_of("top_k", 0)?,
        top_p_milli: u32_of("top_p_milli", 0)?,
        seed: u32_of("seed", 0)?,
        stop,
        threads: u32_of("threads", 0)?,
        deadline_ms: params.get("deadline_ms").and_then(Value::as_u64).unwrap_or(0),
        history: messages(params.get("messages"))?,
        ..Generate::new(String::new(), prompt, u32_of("max_tokens", 256)?)
    };
    Ok((model, g))
}

fn stop_name(s: Stop) -> &'static str {
    match s {
        Stop::EndOfText => "EndOfText",
        Stop::MaxTokens => "MaxTokens",
        Stop::Cancelled => "Cancelled",
        Stop::StopString => "StopString",
    }
}

/// The API result of a finished generation.
pub fn result_json(g: &Generated, model: &str) -> Value {
    json!({
        "model": model,
        "stop": stop_name(g.stop),
        "prompt_tokens": g.prompt_tokens,
        "generated_tokens": g.generated_tokens,
        "load_us": g.load_us,
        "prompt_us": g.prompt_us,
        "generate_us": g.generate_us,
        "first_token_us": g.first_token_us,
        "fingerprint": g.fingerprint,
    })
}

/// A finished generation back from its API result.
pub fn result_from_json(v: &Value) -> Option<Generated> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    let stop = [Stop::EndOfText, Stop::MaxTokens, Stop::Cancelled, Stop::StopString]
        .into_iter()
        .find(|s| v.get("stop").and_then(Value::as_str) == Some(stop_name(*s)))?;
    Some(Generated {
        stop,
        prompt_tokens: n("prompt_tokens")? as u32,
        generated_tokens: n("generated_tokens")? as u32,
        load_us: n("load_us")?,
        prompt_us: n("prompt_us")?,
        generate_us: n("generate_us")?,
        first_token_us: n("first_token_us")?,
        fingerprint: v.get("fingerprint")?.as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_results_round_trip() {
        let g = Generate {
            system: Some("be brief".into()),
            temperature_milli: 700,
            top_k: 40,
            top_p_milli: 950,
            seed: 3,
            stop: vec!["\n".into()],
            deadline_ms: 5000,
            history: vec![
                Message {
                    role: Role::User,
                    content: "hello".into(),
                },
                Message {
                    role: Role::Assistant,
                    content: "hi there".into(),
                },
            ],
            ..Generate::new("", "hi", 16)
        };
        let (model, back) = request_from_json(&request_json(&g, Some("smol"))).unwrap();
        assert_eq!(model.as_deref(), Some("smol"));
        assert_eq!(back, g);
        let bad = json!({"prompt": "x", "max_tokens": -1});
        assert!(request_from_json(&bad).unwrap_err().contains("max_tokens"));
        assert!(request_from_json(&json!({})).unwrap_err().contains("prompt"));
        let bad_role = json!({"prompt": "x", "messages": [{"role": "robot", "content": "x"}]});
        assert!(request_from_json(&bad_role).unwrap_err().contains("messages"));
        let r = Generated {
            stop: Stop::StopString,
            prompt_tokens: 5,
            generated_tokens: 9,
            load_us: 1,
            prompt_us: 2,
            generate_us: 3,
            first_token_us: 4,
            fingerprint: "f".into(),
        };
        assert_eq!(result_from_json(&result_json(&r, "m")), Some(r));
    }
}
