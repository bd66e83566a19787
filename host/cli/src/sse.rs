//! Reading a server-sent event stream (`event:` / `data:` lines, blank line ends one).
//!
//! Only the part of the format `GET …/runs/{id}/events` uses: `event:` names, `data:`
//! lines (several are joined with newlines, as the format says), and a blank line
//! dispatching the event. Other lines are ignored: keep-alive comments (`:`), and
//! `id:` / `retry:`, since the CLI never reconnects.

use futures::{Stream, StreamExt as _};
use serde_json::Value;

/// Calls `on_event(name, data)` for each event until the server sends `end` or closes
/// the stream. Data that is not JSON is passed as a JSON string; an event without a
/// name is `message`, as in a browser's `EventSource`. The `end` event itself is not
/// passed on: its only news is that nothing follows. A blank line with nothing before
/// it (the one closing a keep-alive comment) still yields a `message` event with data
/// `""`, so callers match on the names they want. A stream that closes before `end` is
/// `Ok`: the caller reads the run's state to know how it ended.
pub(crate) async fn follow(
    stream: impl Stream<Item = anyhow::Result<String>>,
    mut on_event: impl FnMut(&str, &Value),
) -> anyhow::Result<()> {
    let mut stream = std::pin::pin!(stream);
    // `buffer` holds the text after the last complete line: chunks split lines anywhere.
    let (mut buffer, mut name, mut data) = (String::new(), String::new(), String::new());
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&chunk?);
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if name == "end" {
                    return Ok(());
                }
                let value = serde_json::from_str(&data).unwrap_or(Value::String(data.clone()));
                on_event(if name.is_empty() { "message" } else { &name }, &value);
                name.clear();
                data.clear();
            } else if let Some(value) = line.strip_prefix("event:") {
                name = value.trim().to_string();
            } else if let Some(value) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value.trim_start());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_split_across_chunks_are_joined_and_end_stops() {
        let chunks = [
            "event: transition\nda",
            "ta: {\"status\":\"BUILT\"}\n\n",
            "event: end\ndata: {}\n\n",
            "event: transition\ndata: 1\n\n",
        ];
        let stream = futures::stream::iter(chunks.map(|c| Ok(c.to_string())));
        let mut seen = Vec::new();
        follow(stream, |name, data| {
            seen.push((name.to_string(), data.clone()))
        })
        .await
        .unwrap();
        assert_eq!(
            seen,
            [(
                "transition".to_string(),
                serde_json::json!({"status": "BUILT"})
            )]
        );
    }
}
