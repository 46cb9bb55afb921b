//! `reference/config.md`: every key of `config.toml`, from the commented template that
//! `oarn init` writes (a test in the config crate keeps that template equal to the defaults and
//! complete): its section, default, when a change applies, and what it does.

use oarn_config::live::LIVE_KEYS;
use oarn_config::template::TEMPLATE;

use super::{cell, check};

/// One key as the template shows it.
#[derive(Debug)]
struct Key {
    name: String,
    default: String,
    about: String,
}

/// The page.
fn render() -> String {
    let mut page = String::from(
        "# Configuration reference\n\n\
         `oarn init` writes `config.toml` in the node home with every key below, commented. \
         `oarn config show` prints the effective configuration, `oarn config set KEY VALUE` \
         changes one key, and `oarn config reload` (or SIGHUP) applies the keys marked *live*; \
         the others take effect at the next start. An unknown key is an error, so a typo is \
         never silently ignored.\n\n",
    );
    let (preamble, sections) = parse();
    page.push_str("The file opens with:\n\n```toml\n");
    for line in preamble {
        page.push_str(&format!("#{}{line}\n", if line.is_empty() { "" } else { " " }));
    }
    page.push_str("```\n");
    for (section, keys) in sections {
        page.push_str(&format!(
            "\n## `[{section}]`\n\n| key | default | applies | meaning |\n| --- | --- | --- | --- |\n"
        ));
        for k in keys {
            let live = LIVE_KEYS.contains(&format!("{section}.{}", k.name).as_str());
            page.push_str(&format!(
                "| `{section}.{}` | `{}` | {} | {} |\n",
                k.name,
                cell(&k.default),
                if live { "live" } else { "restart" },
                cell(&k.about)
            ));
        }
    }
    page
}

/// The template's header comment, and its sections with their keys in file order. A key
/// without a comment of its own shares the one before it (`max_upload_kib_s` and
/// `max_download_kib_s`).
fn parse() -> (Vec<String>, Vec<(String, Vec<Key>)>) {
    let mut preamble = Vec::new();
    let mut sections: Vec<(String, Vec<Key>)> = Vec::new();
    let mut comment: Vec<&str> = Vec::new();
    let mut last_about = String::new();
    for line in TEMPLATE.lines() {
        let line = line.trim();
        if let Some(text) = line.strip_prefix('#') {
            comment.push(text.trim());
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if sections.is_empty() {
                preamble = comment.iter().map(|s| s.to_string()).collect();
            }
            sections.push((name.to_owned(), Vec::new()));
            comment.clear();
        } else if let Some((name, default)) = line.split_once(" = ") {
            let about = if comment.is_empty() {
                last_about.clone()
            } else {
                comment.join(" ")
            };
            last_about.clone_from(&about);
            let (_, keys) = sections.last_mut().expect("the template's first key is in a section");
            keys.push(Key {
                name: name.to_owned(),
                default: default.to_owned(),
                about,
            });
            comment.clear();
        } else {
            assert!(
                line.is_empty(),
                "the template has a line this page cannot place: {line}"
            );
        }
    }
    (preamble, sections)
}

#[test]
fn the_configuration_reference_is_current() {
    check("config.md", "config/src/template.rs", &render());
}

#[test]
fn every_key_of_the_configuration_is_on_the_page() {
    let (_, sections) = parse();
    let on_page: Vec<String> = sections
        .iter()
        .flat_map(|(s, keys)| keys.iter().map(move |k| format!("{s}.{}", k.name)))
        .collect();
    for (key, _) in oarn_config::Config::default().flatten() {
        assert!(on_page.contains(&key), "the configuration reference lacks {key}");
    }
}

#[test]
fn the_template_marks_exactly_the_keys_that_change_live() {
    let (_, sections) = parse();
    for (section, keys) in sections {
        for k in keys {
            let key = format!("{section}.{}", k.name);
            assert_eq!(
                k.about.contains("(live"),
                LIVE_KEYS.contains(&key.as_str()),
                "the template's comment on {key} says the wrong thing about when a change applies"
            );
        }
    }
}
