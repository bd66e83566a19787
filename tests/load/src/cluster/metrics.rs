//! What the API server's own metrics (`/metrics`) tell about its clients:
//!
//! - open watches per resource, from the `apiserver_longrunning_requests` gauge
//!   (`verb="WATCH"`). The gauge counts every client's watches (controllers, scheduler,
//!   kwok, the benchmark's own watchers), so the host's are the difference to a snapshot
//!   taken before the host opened any;
//! - requests served per verb, from the `apiserver_request_total` counter: every
//!   client's too, but the controllers and kwok mostly watch, so the LISTs and APPLYs of
//!   a phase are mostly its own. They tell where a phase's time went.

use std::collections::BTreeMap;

/// Counts by resource (`pods`, `jobs.batch`) or by verb (`LIST`, `APPLY`).
pub type Counts = BTreeMap<String, i64>;

/// One reading of the metrics.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Open watches by resource.
    pub watches: Counts,
    /// Requests served so far, by verb.
    pub requests: Counts,
}

impl Metrics {
    /// Reads `/metrics` through `client` (an admin client).
    pub async fn read(client: &kube::Client) -> anyhow::Result<Metrics> {
        let request = hyper::Request::get("/metrics").body(Vec::new())?;
        Ok(Metrics::parse(&client.request_text(request).await?))
    }

    fn parse(text: &str) -> Metrics {
        let mut metrics = Metrics::default();
        for (name, labels, value) in text.lines().filter_map(sample) {
            match name {
                "apiserver_longrunning_requests" if label(labels, "verb") == Some("WATCH") => {
                    let Some(resource) = label(labels, "resource") else {
                        continue;
                    };
                    let key = match label(labels, "group") {
                        Some(group) if !group.is_empty() => format!("{resource}.{group}"),
                        _ => resource.to_string(),
                    };
                    *metrics.watches.entry(key).or_default() += value;
                }
                "apiserver_request_total" => {
                    if let Some(verb) = label(labels, "verb") {
                        *metrics.requests.entry(verb.to_string()).or_default() += value;
                    }
                }
                _ => {}
            }
        }
        metrics
    }
}

/// The counts of `now` that differ from `before` (non-zero differences only).
pub fn added(now: &Counts, before: &Counts) -> Counts {
    now.keys()
        .chain(before.keys())
        .map(|key| {
            let count = |counts: &Counts| counts.get(key).copied().unwrap_or(0);
            (key.clone(), count(now) - count(before))
        })
        .filter(|(_, difference)| *difference != 0)
        .collect()
}

/// `name{labels} value` of a sample line.
fn sample(line: &str) -> Option<(&str, &str, i64)> {
    let (name, rest) = line.split_once('{')?;
    let (labels, value) = rest.rsplit_once("} ")?;
    Some((name, labels, value.trim().parse::<f64>().ok()? as i64))
}

/// The value of label `name` in `a="x",b="y"` (values never hold quotes or commas here).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = r#"# HELP apiserver_longrunning_requests [ALPHA] Gauge of all active long-running apiserver requests
apiserver_longrunning_requests{component="apiserver",group="",resource="pods",scope="cluster",subresource="",verb="WATCH",version="v1"} 4
apiserver_longrunning_requests{component="apiserver",group="",resource="pods",scope="namespace",subresource="",verb="WATCH",version="v1"} 1
apiserver_longrunning_requests{component="apiserver",group="",resource="pods",scope="resource",subresource="log",verb="CONNECT",version="v1"} 2
apiserver_longrunning_requests{component="apiserver",group="batch",resource="jobs",scope="cluster",subresource="",verb="WATCH",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="batch",resource="jobs",scope="namespace",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="201",component="apiserver",dry_run="",group="batch",resource="jobs",scope="resource",subresource="",verb="APPLY",version="v1"} 2
apiserver_request_duration_seconds_count{verb="LIST"} 99
"#;

    #[test]
    fn sums_watches_per_resource_and_requests_per_verb() {
        let metrics = Metrics::parse(METRICS);
        assert_eq!(metrics.watches.get("pods"), Some(&5));
        assert_eq!(metrics.watches.get("jobs.batch"), Some(&1));
        assert_eq!(metrics.watches.len(), 2);
        assert_eq!(metrics.requests.get("LIST"), Some(&10));
        assert_eq!(metrics.requests.get("APPLY"), Some(&2));
        assert_eq!(metrics.requests.len(), 2);
    }

    #[test]
    fn added_keeps_differences_only() {
        let before = Metrics::parse(METRICS).watches;
        let mut now = before.clone();
        *now.get_mut("pods").unwrap() += 1;
        now.insert("deployments.apps".into(), 1);
        assert_eq!(
            added(&now, &before).into_iter().collect::<Vec<_>>(),
            [("deployments.apps".to_string(), 1), ("pods".to_string(), 1)]
        );
    }
}
