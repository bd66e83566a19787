//! Kubernetes resource quantities (`100m`, `256Mi`, `1.5`, `2e3`), checked before they
//! reach the API server so that the error names the spec field.

/// Whether `text` is a valid Kubernetes quantity.
pub(crate) fn is_valid(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let number_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(number_end);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return false;
    }
    matches!(
        suffix,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    ) || is_exponent(suffix)
}

fn is_exponent(suffix: &str) -> bool {
    let Some(exponent) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    !exponent.is_empty() && exponent.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn accepts_kubernetes_quantities() {
        for text in ["100m", "1", "0.5", "256Mi", "2Gi", "1e3", "1.5G", "+2"] {
            assert!(is_valid(text), "{text}");
        }
    }

    #[test]
    fn rejects_what_the_api_server_rejects() {
        for text in ["", "abc", "1.2.3", "10 Mi", "1mb", "Mi", "1e", "--1"] {
            assert!(!is_valid(text), "{text}");
        }
    }
}
