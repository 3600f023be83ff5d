//! `/v1/agent/host`: the host's memory, CPUs, OS and the data dir's disk,
//! in the JSON shape Consul's gopsutil answer has (lower camel-case keys),
//! read from /proc and statvfs. What cannot be read is named in `Errors`
//! and its section left out, as Consul reports collection errors.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::json;
use serde_json::Value;

#[derive(Serialize)]
pub struct HostInfo {
    #[serde(rename = "Memory", skip_serializing_if = "Option::is_none")]
    memory: Option<Value>,
    #[serde(rename = "CPU", skip_serializing_if = "Option::is_none")]
    cpu: Option<Vec<Value>>,
    #[serde(rename = "Host", skip_serializing_if = "Option::is_none")]
    host: Option<Value>,
    #[serde(rename = "Disk", skip_serializing_if = "Option::is_none")]
    disk: Option<Value>,
    /// Nanoseconds since the Unix epoch.
    #[serde(rename = "CollectionTime")]
    collection_time: u128,
    #[serde(rename = "Errors")]
    errors: Option<Vec<String>>,
}

/// Collects everything now; `disk_path` is the data dir (the working
/// directory when there is none, as with `-dev`).
pub fn collect(disk_path: Option<&Path>) -> HostInfo {
    let mut errors = Vec::new();
    let memory = kept(&mut errors, "memory", memory());
    let cpu = kept(&mut errors, "cpu", cpus());
    let host = kept(&mut errors, "host", host());
    let disk = kept(&mut errors, "disk", disk(disk_path.unwrap_or(Path::new("."))));
    let collection_time =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    HostInfo { memory, cpu, host, disk, collection_time, errors: (!errors.is_empty()).then_some(errors) }
}

fn kept<T>(errors: &mut Vec<String>, what: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|e| errors.push(format!("{what}: {e}"))).ok()
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// /proc/meminfo in bytes, by its own key names.
fn meminfo() -> Result<BTreeMap<String, u64>, String> {
    let text = read("/proc/meminfo")?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let mut words = rest.split_whitespace();
            let n: u64 = words.next()?.parse().ok()?;
            let unit = if words.next() == Some("kB") { 1024 } else { 1 };
            Some((key.to_string(), n * unit))
        })
        .collect())
}

fn memory() -> Result<Value, String> {
    let info = meminfo()?;
    let get = |key: &str| info.get(key).copied().unwrap_or(0);
    let total = get("MemTotal");
    let available = info.get("MemAvailable").copied().unwrap_or(get("MemFree") + get("Buffers") + get("Cached"));
    let used = total.saturating_sub(available);
    let percent = if total == 0 { 0.0 } else { used as f64 * 100.0 / total as f64 };
    Ok(json!({
        "total": total, "available": available, "used": used, "usedPercent": percent,
        "free": get("MemFree"), "buffers": get("Buffers"), "cached": get("Cached"), "shared": get("Shmem"),
        "active": get("Active"), "inactive": get("Inactive"), "slab": get("Slab"), "dirty": get("Dirty"),
        "swapTotal": get("SwapTotal"), "swapFree": get("SwapFree"), "swapCached": get("SwapCached"),
        "mapped": get("Mapped"), "pageTables": get("PageTables"), "commitLimit": get("CommitLimit"),
        "committedAS": get("Committed_AS"), "hugePagesTotal": get("HugePages_Total"),
        "hugePagesFree": get("HugePages_Free"), "hugePageSize": get("Hugepagesize"),
    }))
}

/// One entry per logical CPU, from /proc/cpuinfo's blocks.
fn cpus() -> Result<Vec<Value>, String> {
    let text = read("/proc/cpuinfo")?;
    let cpus: Vec<Value> = text
        .split("\n\n")
        .filter(|block| block.contains("processor"))
        .map(|block| {
            let fields: BTreeMap<&str, &str> =
                block.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
            let field = |key: &str| fields.get(key).copied().unwrap_or_default();
            let number = |key: &str| field(key).parse::<u64>().unwrap_or(0);
            json!({
                "cpu": number("processor"), "vendorId": field("vendor_id"), "family": field("cpu family"),
                "model": field("model"), "stepping": number("stepping"), "physicalId": field("physical id"),
                "coreId": field("core id"), "cores": 1, "modelName": field("model name"),
                "mhz": field("cpu MHz").parse::<f64>().unwrap_or(0.0),
                "cacheSize": field("cache size").trim_end_matches(" KB").parse::<u64>().unwrap_or(0),
                "flags": field("flags").split_whitespace().collect::<Vec<_>>(), "microcode": field("microcode"),
            })
        })
        .collect();
    match cpus.is_empty() {
        true => Err("no processors in /proc/cpuinfo".into()),
        false => Ok(cpus),
    }
}

fn host() -> Result<Value, String> {
    let uptime: f64 = read("/proc/uptime")?.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let boot_time = read("/proc/stat")?
        .lines()
        .find_map(|l| l.strip_prefix("btime ").and_then(|s| s.trim().parse::<u64>().ok()))
        .unwrap_or(0);
    let procs = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok()).count()
        })
        .unwrap_or(0);
    let os_release = read("/etc/os-release").unwrap_or_default();
    let release = |key: &str| {
        os_release.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_default().trim_matches('"')
    };
    let trimmed = |path: &str| read(path).map(|s| s.trim().to_string()).unwrap_or_default();
    Ok(json!({
        "hostname": trimmed("/proc/sys/kernel/hostname"), "uptime": uptime as u64, "bootTime": boot_time,
        "procs": procs, "os": std::env::consts::OS, "platform": release("ID"),
        "platformFamily": release("ID_LIKE"), "platformVersion": release("VERSION_ID"),
        "kernelVersion": trimmed("/proc/sys/kernel/osrelease"), "kernelArch": std::env::consts::ARCH,
        "virtualizationSystem": "", "virtualizationRole": "", "hostId": trimmed("/etc/machine-id"),
    }))
}

fn disk(path: &Path) -> Result<Value, String> {
    let stat = rustix::fs::statvfs(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let block = stat.f_frsize;
    let (total, free, avail) = (stat.f_blocks * block, stat.f_bfree * block, stat.f_bavail * block);
    let used = total.saturating_sub(free);
    let percent = |used: u64, total: u64| if total == 0 { 0.0 } else { used as f64 * 100.0 / total as f64 };
    let (inodes, inodes_free) = (stat.f_files, stat.f_ffree);
    Ok(json!({
        "path": path.display().to_string(), "fstype": fstype(path), "total": total, "free": avail, "used": used,
        "usedPercent": percent(used, used + avail), "inodesTotal": inodes,
        "inodesUsed": inodes.saturating_sub(inodes_free), "inodesFree": inodes_free,
        "inodesUsedPercent": percent(inodes.saturating_sub(inodes_free), inodes),
    }))
}

/// The type of the file system `path` is on: its longest mount point in /proc/mounts.
fn fstype(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = read("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point).then(|| (point.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, kind)| kind)
        .unwrap_or_default()
}

/// Collects off the async threads: statvfs may block on a slow file system.
pub async fn answer(data_dir: Option<std::path::PathBuf>) -> axum::Json<HostInfo> {
    let info = tokio::task::spawn_blocking(move || collect(data_dir.as_deref()))
        .await
        .unwrap_or_else(|e| HostInfo::failed(e.to_string()));
    axum::Json(info)
}

impl HostInfo {
    fn failed(reason: String) -> HostInfo {
        HostInfo { memory: None, cpu: None, host: None, disk: None, collection_time: 0, errors: Some(vec![reason]) }
    }
}
