//! A node of a tree blob: one directory entry with the metadata restic records.
//!
//! Field meanings and JSON names follow restic's `internal/restic/node.go` (0.14). Names and link
//! targets are raw bytes because Unix file names need not be UTF-8; their JSON encoding is in
//! [`super::encode`].

use serde_json::value::RawValue;

use crate::Id;

/// Go's `fs.FileMode` type bits, as restic stores them in `mode`.
pub mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const APPEND: u32 = 1 << 30;
    pub const EXCLUSIVE: u32 = 1 << 29;
    pub const TEMPORARY: u32 = 1 << 28;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
    pub const IRREGULAR: u32 = 1 << 19;
    /// The Unix permission bits.
    pub const PERM: u32 = 0o777;
    /// Go's `fs.ModeType`: every bit that says what kind of file it is.
    pub const TYPE: u32 = DIR | SYMLINK | NAMED_PIPE | SOCKET | DEVICE | CHAR_DEVICE | IRREGULAR;

    /// The `mode` restic records for a Unix `st_mode`: Go's `os.FileMode` of the `lstat`
    /// (`fillFileStatFromSys`), masked as restic's `NodeFromFileInfo` masks it, with permission,
    /// type, setuid, setgid and sticky bits.
    pub fn from_unix(st_mode: u32) -> u32 {
        const S_IFMT: u32 = 0o170_000;
        let mut mode = st_mode & PERM;
        mode |= match st_mode & S_IFMT {
            0o060_000 => DEVICE,
            0o020_000 => DEVICE | CHAR_DEVICE,
            0o040_000 => DIR,
            0o010_000 => NAMED_PIPE,
            0o120_000 => SYMLINK,
            0o140_000 => SOCKET,
            _ => 0,
        };
        if st_mode & 0o4000 != 0 {
            mode |= SETUID;
        }
        if st_mode & 0o2000 != 0 {
            mode |= SETGID;
        }
        if st_mode & 0o1000 != 0 {
            mode |= STICKY;
        }
        mode
    }

    /// The Unix permission and setuid/setgid/sticky bits of a Go file mode (for restoring).
    pub fn to_unix_permissions(mode: u32) -> u32 {
        let mut unix = mode & PERM;
        if mode & SETUID != 0 {
            unix |= 0o4000;
        }
        if mode & SETGID != 0 {
            unix |= 0o2000;
        }
        if mode & STICKY != 0 {
            unix |= 0o1000;
        }
        unix
    }
}

/// What kind of entry a node is; the JSON `type` string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeType {
    File,
    Dir,
    Symlink,
    /// A block device (`"dev"`).
    Dev,
    CharDev,
    Fifo,
    Socket,
    /// A type string this version does not know; kept so a tree round-trips.
    Other(String),
}

impl NodeType {
    pub fn as_str(&self) -> &str {
        match self {
            NodeType::File => "file",
            NodeType::Dir => "dir",
            NodeType::Symlink => "symlink",
            NodeType::Dev => "dev",
            NodeType::CharDev => "chardev",
            NodeType::Fifo => "fifo",
            NodeType::Socket => "socket",
            NodeType::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> NodeType {
        match s {
            "file" => NodeType::File,
            "dir" => NodeType::Dir,
            "symlink" => NodeType::Symlink,
            "dev" => NodeType::Dev,
            "chardev" => NodeType::CharDev,
            "fifo" => NodeType::Fifo,
            "socket" => NodeType::Socket,
            other => NodeType::Other(other.to_string()),
        }
    }
}

/// An instant as Go's `time.Time` carries it in JSON: Unix seconds, nanoseconds, and the UTC
/// offset it is printed with. Restic prints times in the machine's local zone, so the offset is
/// part of the bytes that make a tree's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GoTime {
    pub unix_secs: i64,
    /// 0..1_000_000_000.
    pub nanos: u32,
    /// Seconds east of UTC.
    pub utc_offset_secs: i32,
}

impl GoTime {
    /// The same instant; two `GoTime`s printed in different zones compare equal here.
    pub fn same_instant(&self, other: &GoTime) -> bool {
        self.unix_secs == other.unix_secs && self.nanos == other.nanos
    }

    /// Go's zero `time.Time` (`0001-01-01T00:00:00Z`), which restic writes for a missing time.
    pub const GO_ZERO: GoTime = GoTime {
        unix_secs: -62_135_596_800,
        nanos: 0,
        utc_offset_secs: 0,
    };
}

/// One extended attribute: its name and raw value (base64 in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtendedAttribute {
    pub name: String,
    pub value: Vec<u8>,
}

/// One entry of a tree. Zero values mean "absent" where restic's JSON uses `omitempty`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The entry's name: raw bytes, never containing `/`.
    pub name: Vec<u8>,
    pub node_type: NodeType,
    /// Go `fs.FileMode` bits: permissions, setuid/setgid/sticky and type bits.
    pub mode: u32,
    pub mtime: GoTime,
    pub atime: GoTime,
    pub ctime: GoTime,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
    pub inode: u64,
    /// `st_dev` of the file system holding the entry.
    pub device_id: u64,
    /// Content length, for files.
    pub size: u64,
    pub links: u64,
    /// Raw target bytes, for symlinks.
    pub link_target: Vec<u8>,
    pub extended_attributes: Vec<ExtendedAttribute>,
    /// `st_rdev`, for devices.
    pub device: u64,
    /// The data blobs in order, for files; `None` encodes as `null`.
    pub content: Option<Vec<Id>>,
    /// The tree blob of a directory.
    pub subtree: Option<Id>,
    /// An error met while reading the entry, recorded instead of failing the backup.
    pub error: String,
    /// Fields this version does not know (restic ≥ 0.17's `generic_attributes`, fields of
    /// later versions or other tools), in the order they were read; see [`UnknownNodeField`].
    pub unknown_fields: Vec<UnknownNodeField>,
}

/// The fields of restic's `Node` that cairn knows, in restic's struct order (the order of its
/// JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeField {
    Name,
    Type,
    Mode,
    Mtime,
    Atime,
    Ctime,
    Uid,
    Gid,
    User,
    Group,
    Inode,
    DeviceId,
    Size,
    Links,
    LinkTarget,
    LinkTargetRaw,
    ExtendedAttributes,
    Device,
    Content,
    Subtree,
    Error,
}

impl NodeField {
    /// Every known field, in struct order.
    pub const ALL: [NodeField; 21] = [
        NodeField::Name,
        NodeField::Type,
        NodeField::Mode,
        NodeField::Mtime,
        NodeField::Atime,
        NodeField::Ctime,
        NodeField::Uid,
        NodeField::Gid,
        NodeField::User,
        NodeField::Group,
        NodeField::Inode,
        NodeField::DeviceId,
        NodeField::Size,
        NodeField::Links,
        NodeField::LinkTarget,
        NodeField::LinkTargetRaw,
        NodeField::ExtendedAttributes,
        NodeField::Device,
        NodeField::Content,
        NodeField::Subtree,
        NodeField::Error,
    ];

    /// The field's JSON key.
    pub const fn json_name(self) -> &'static str {
        match self {
            NodeField::Name => "name",
            NodeField::Type => "type",
            NodeField::Mode => "mode",
            NodeField::Mtime => "mtime",
            NodeField::Atime => "atime",
            NodeField::Ctime => "ctime",
            NodeField::Uid => "uid",
            NodeField::Gid => "gid",
            NodeField::User => "user",
            NodeField::Group => "group",
            NodeField::Inode => "inode",
            NodeField::DeviceId => "device_id",
            NodeField::Size => "size",
            NodeField::Links => "links",
            NodeField::LinkTarget => "linktarget",
            NodeField::LinkTargetRaw => "linktarget_raw",
            NodeField::ExtendedAttributes => "extended_attributes",
            NodeField::Device => "device",
            NodeField::Content => "content",
            NodeField::Subtree => "subtree",
            NodeField::Error => "error",
        }
    }
}

/// A node field this version does not know, kept so that re-encoding the node (`repair
/// snapshots`) writes it back.
///
/// It is written right after the place of the known field it followed in the blob (`after`;
/// `None`: before `name`), whether that field is written or omitted as empty. restic writes a
/// node's fields in its struct order, a new field at its place in the struct (0.17 put
/// `generic_attributes` between `extended_attributes` and `device`), so a node a newer restic
/// wrote re-encodes to the same bytes, and its tree to the same id, as long as the known
/// fields keep their values. The value is written back exactly as read.
#[derive(Debug, Clone)]
pub struct UnknownNodeField {
    pub after: Option<NodeField>,
    /// The key, JSON-decoded.
    pub name: String,
    pub value: Box<RawValue>,
}

impl UnknownNodeField {
    /// A field holding `json`, which must be one JSON value.
    pub fn new(
        after: Option<NodeField>,
        name: &str,
        json: &str,
    ) -> Result<UnknownNodeField, serde_json::Error> {
        Ok(UnknownNodeField {
            after,
            name: name.to_string(),
            value: RawValue::from_string(json.to_string())?,
        })
    }
}

impl PartialEq for UnknownNodeField {
    fn eq(&self, other: &UnknownNodeField) -> bool {
        self.after == other.after
            && self.name == other.name
            && self.value.get() == other.value.get()
    }
}

impl Eq for UnknownNodeField {}

impl Node {
    /// A node with the given name and type and every other field at its zero value.
    pub fn new(name: Vec<u8>, node_type: NodeType) -> Node {
        Node {
            name,
            node_type,
            mode: 0,
            mtime: GoTime::GO_ZERO,
            atime: GoTime::GO_ZERO,
            ctime: GoTime::GO_ZERO,
            uid: 0,
            gid: 0,
            user: String::new(),
            group: String::new(),
            inode: 0,
            device_id: 0,
            size: 0,
            links: 0,
            link_target: Vec::new(),
            extended_attributes: Vec::new(),
            device: 0,
            content: None,
            subtree: None,
            error: String::new(),
            unknown_fields: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::go_mode;

    #[test]
    fn unix_modes_map_to_go_bits_and_back() {
        assert_eq!(go_mode::from_unix(0o100644), 0o644);
        assert_eq!(go_mode::from_unix(0o040755), go_mode::DIR | 0o755);
        assert_eq!(go_mode::from_unix(0o104755), go_mode::SETUID | 0o755);
        assert_eq!(
            go_mode::from_unix(0o020600),
            go_mode::DEVICE | go_mode::CHAR_DEVICE | 0o600
        );
        assert_eq!(
            go_mode::to_unix_permissions(go_mode::SETUID | go_mode::STICKY | 0o755),
            0o5755
        );
        assert_eq!(
            go_mode::to_unix_permissions(go_mode::from_unix(0o102750)),
            0o2750
        );
    }
}
