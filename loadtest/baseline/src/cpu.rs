//! CPU time of a process (all its threads, user and system), read from `/proc`.

use std::time::Duration;

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time used so far by process `pid`, or by this process when `None`; `None` when it
/// cannot be read (no `/proc`, or the process is gone).
pub fn process_cpu(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    cpu_from_stat(&std::fs::read_to_string(path).ok()?)
}

/// User plus system time from the text of a `/proc/<pid>/stat` file.
pub fn cpu_from_stat(stat: &str) -> Option<Duration> {
    // The command name may hold spaces and parentheses: the fields that follow start after
    // the last `)`, with the state (field 3); utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')?.checked_add(1)?..)?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks = user.checked_add(system)?;
    Some(Duration::from_millis(ticks.checked_mul(1000 / TICKS_PER_SECOND)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_added_after_a_name_with_spaces_and_parentheses() {
        let stat = "8678 (my (odd) name) R 8662 8662 19561 0 -1 4194304 102 0 0 0 250 37 0 0 20 0 \
                    1 0 1202125 3133440 416";
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_millis(2870)));
    }

    #[test]
    fn a_truncated_stat_gives_nothing() {
        assert_eq!(cpu_from_stat("8678 (cat) R 8662"), None);
        assert_eq!(cpu_from_stat(""), None);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(process_cpu(None).is_some());
    }
}
