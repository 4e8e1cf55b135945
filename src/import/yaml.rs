//! The little YAML writing the importers need: scalars always double-quoted (a JSON string is a
//! valid YAML double-quoted scalar), so `"*"`, `"#"`, `"1"`, `yes` or `on` can never change type.

/// `s` as a double-quoted YAML scalar.
pub fn quote(s: &str) -> String {
    // serde_json escapes `"`, `\` and control characters exactly as YAML double quotes expect.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// A flow-style list of quoted scalars: `["a", "b"]`.
pub fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(quote).collect();
    format!("[{}]", parts.join(", "))
}

/// A flow-style map of quoted keys to quoted values: `{ "1": "a", "#": "b" }`.
pub fn map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
        .collect();
    if parts.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{ {} }}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_everything_that_yaml_would_reinterpret() {
        assert_eq!(quote("*"), "\"*\"");
        assert_eq!(quote("#"), "\"#\"");
        assert_eq!(quote("1"), "\"1\"");
        assert_eq!(quote("yes"), "\"yes\"");
        assert_eq!(quote("a \"b\"\n"), "\"a \\\"b\\\"\\n\"");
        assert_eq!(list(["a", "b"]), "[\"a\", \"b\"]");
        assert_eq!(map([("#", "x")]), "{ \"#\": \"x\" }");
        assert_eq!(map(std::iter::empty()), "{}");
    }
}
