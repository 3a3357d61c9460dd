//! Facts about the running system: host name, user and group names, process liveness.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::Mutex;

/// The host name, as restic records it in snapshots and locks.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

pub fn gid() -> u32 {
    // SAFETY: getgid has no preconditions.
    unsafe { libc::getgid() }
}

pub fn pid() -> u32 {
    std::process::id()
}

/// The name of the current user, or the empty string.
pub fn username() -> String {
    user_name(uid())
}

/// Whether a process with this PID exists on this host (restic's stale-lock test).
pub fn process_exists(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission check.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Caches of uid → user name and gid → group name: every file of a backup needs both, and a
/// passwd lookup can go to NSS/LDAP.
static USER_NAMES: Mutex<Option<HashMap<u32, String>>> = Mutex::new(None);
static GROUP_NAMES: Mutex<Option<HashMap<u32, String>>> = Mutex::new(None);

/// The user name of `uid`, or the empty string when it has none (restic records "" then).
pub fn user_name(uid: u32) -> String {
    let mut cache = USER_NAMES.lock().expect("user name cache");
    cache
        .get_or_insert_with(HashMap::new)
        .entry(uid)
        .or_insert_with(|| lookup_user(uid).unwrap_or_default())
        .clone()
}

/// The group name of `gid`, or the empty string.
pub fn group_name(gid: u32) -> String {
    let mut cache = GROUP_NAMES.lock().expect("group name cache");
    cache
        .get_or_insert_with(HashMap::new)
        .entry(gid)
        .or_insert_with(|| lookup_group(gid).unwrap_or_default())
        .clone()
}

fn lookup_user(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain data; getpwuid_r fills it with pointers into `buf`, which outlives
    // every use of them below.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned())
    }
}

fn lookup_group(gid: u32) -> Option<String> {
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: as in lookup_user, with group and getgrgid_r.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrgid_r(
            gid,
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || grp.gr_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned())
    }
}

/// uid of a user name, for restoring ownership by name when ids differ between hosts.
pub fn uid_of_user(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: as in lookup_user, with getpwnam_r.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        (rc == 0 && !result.is_null()).then_some(pwd.pw_uid)
    }
}

/// gid of a group name.
pub fn gid_of_group(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: as in lookup_group, with getgrnam_r.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_for_root_and_this_process_is_alive() {
        assert_eq!(user_name(0), "root");
        assert_eq!(uid_of_user("root"), Some(0));
        assert!(process_exists(pid()));
        assert!(!process_exists(0));
        assert!(!hostname().is_empty());
    }
}
