//! The two text formats of `/metrics`. prometheus-client writes OpenMetrics, which Prometheus
//! asks for (its `Accept` header names `application/openmetrics-text`); any other client
//! (curl, `promtool check metrics`, older scrapers) gets Prometheus' classic text format
//! 0.0.4, converted here: a counter's `# HELP` and `# TYPE` name the sample (`…_total`), and
//! OpenMetrics' `# UNIT` and `# EOF` lines are left out. No crate converts between the two.

use std::collections::HashSet;

/// The content type of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the classic text format.
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a request's `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// OpenMetrics text as the classic text format.
pub fn classic(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: &str = "# HELP oarn_rewards_wei Rewards.\n# TYPE oarn_rewards_wei counter\noarn_rewards_wei_total 5.0\n\
                        # HELP oarn_uptime_seconds Up.\n# TYPE oarn_uptime_seconds gauge\n# UNIT oarn_uptime_seconds seconds\n\
                        oarn_uptime_seconds 3.5\n# EOF\n";

    #[test]
    fn counters_are_named_by_their_samples_and_openmetrics_lines_are_dropped() {
        assert_eq!(
            classic(OPEN),
            "# HELP oarn_rewards_wei_total Rewards.\n# TYPE oarn_rewards_wei_total counter\noarn_rewards_wei_total 5.0\n\
             # HELP oarn_uptime_seconds Up.\n# TYPE oarn_uptime_seconds gauge\noarn_uptime_seconds 3.5\n"
        );
    }

    #[test]
    fn prometheus_gets_openmetrics_and_others_the_classic_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }
}
