//! How the binaries print a fatal error: the error and its causes on one line.

/// The error and its causes on one line, leaving out a cause whose words the line already holds
/// (typed errors often quote their source in their own message).
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut cause = Some(error);
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        cause = e.source();
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("reading model.bin: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot start\nthe scorer")]
    struct Outer(#[source] Quoting);

    #[test]
    fn causes_follow_once_on_one_line() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = Outer(Quoting(io));
        assert_eq!(
            one_line(&error),
            "cannot start the scorer: reading model.bin: no such file"
        );
    }
}
