//! CPU time and resident memory of a process (`/proc/<pid>/stat`), and of the whole machine
//! (`/proc/stat`), as the kernel reports them. Written here rather than with a crate: two
//! lines of procfs, read at each scrape; the fields are the kernel's documented ones
//! (proc(5)).

/// A process' usage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User and system CPU time.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// The machine's CPU time, all cores together.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    pub busy_seconds: f64,
    pub idle_seconds: f64,
    pub cores: usize,
}

fn clock_ticks() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

fn page_size() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(p)) if p > 0 => p as u64,
        _ => 4096,
    }
}

/// The usage of process `pid`, `None` when it is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text, clock_ticks(), page_size())
}

/// Reads a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`: state is field 3, utime 14, stime
/// 15, rss (pages) 24.
pub fn parse_stat(text: &str, ticks: f64, page: u64) -> Option<Usage> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Usage {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        rss_bytes: field(24)?.saturating_mul(page),
    })
}

/// The machine's CPU time, `None` where `/proc/stat` cannot be read.
pub fn cpu() -> Option<Cpu> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu(&text, clock_ticks())
}

/// Reads the `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal.
/// Idle is idle and iowait; busy the others (guest time is already in user).
pub fn parse_cpu(text: &str, ticks: f64) -> Option<Cpu> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = at(3) + at(4);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    let cores = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some(Cpu {
        busy_seconds: busy as f64 / ticks,
        idle_seconds: idle as f64 / ticks,
        cores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let line = "4242 (oarn (worker) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 \
                    12345 100000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let u = parse_stat(line, 100.0, 4096).unwrap();
        assert_eq!(u.cpu_seconds, 3.0);
        assert_eq!(u.rss_bytes, 300 * 4096);
    }

    #[test]
    fn a_truncated_stat_line_reads_as_nothing() {
        assert_eq!(parse_stat("1 (x) S 1 2", 100.0, 4096), None);
        assert_eq!(parse_stat("no parenthesis", 100.0, 4096), None);
    }

    #[test]
    fn machine_cpu_time_splits_busy_from_idle_and_counts_cores() {
        let text =
            "cpu  100 10 50 1000 40 5 5 0 0 0\ncpu0 50 5 25 500 20 2 3 0 0 0\ncpu1 50 5 25 500 20 3 2 0 0 0\nintr 1\n";
        let c = parse_cpu(text, 100.0).unwrap();
        assert_eq!(c.busy_seconds, 1.7);
        assert_eq!(c.idle_seconds, 10.4);
        assert_eq!(c.cores, 2);
    }

    #[test]
    fn this_process_has_usage() {
        let u = usage(std::process::id()).unwrap();
        assert!(u.rss_bytes > 0);
    }
}
