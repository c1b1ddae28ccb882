//! Enumerates the on-disk states a power loss could leave after a prefix of
//! recorded ops, ALICE-style (Pillai et al., OSDI'14), and the in-memory tree
//! of each state.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::ops::{parent_of, FsOp, Ino, RelPath, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// ALICE's model: any op not forced durable by an earlier fsync may be lost, independently of the others; a kept write may be torn; a rename may persist as its two parts separately.
    Portable,
    /// ext4 data=ordered: directory/metadata ops (Create, Mkdir, Rename, Link, Remove, SetLen) persist as an in-order prefix of the unforced ones; data writes (Write) may each be lost or torn independently.
    Ext4Ordered,
}

impl Profile {
    /// Every profile, in the order a recording is judged under them.
    pub const ALL: [Profile; 2] = [Profile::Portable, Profile::Ext4Ordered];

    /// The profile's name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Portable => "portable",
            Profile::Ext4Ordered => "ext4-ordered",
        }
    }

    /// The profile in a sentence, for a violating state's evidence ("under the ...").
    pub fn description(self) -> &'static str {
        match self {
            Profile::Portable => {
                "portable profile (ALICE: unsynced operations may be lost, writes torn, renames split)"
            }
            Profile::Ext4Ordered => {
                "ext4 data=ordered profile (directory operations persist in order, data may be lost)"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Try every subset of the free units while there are at most this many
    /// (clamped to 24 so 2^n stays tractable); above it, ALICE's heuristics.
    pub exhaustive_up_to: usize,
    /// Cap on distinct states returned.
    pub max_states: usize,
}

impl Default for Limits {
    /// Every subset up to 10 free units: one recording's crash points then hold at most
    /// 2^11 - 1 exhaustively enumerated states, under the cap, so a long run of unforced
    /// operations meets the heuristics (and the report says so) before the cap cuts it off.
    fn default() -> Self {
        Limits {
            exhaustive_up_to: 10,
            max_states: 4096,
        }
    }
}

/// Which half of a rename persisted when only one did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameHalf {
    NewNameOnly,
    OldNameRemovedOnly,
}

/// One crash state: which issued ops persisted.
#[derive(Debug, Clone)]
pub struct CrashState {
    /// ops[..crash_after] were issued before the power loss.
    pub crash_after: usize,
    /// An Ack is among ops[..crash_after].
    pub acked: bool,
    /// How many Acks are among ops[..crash_after]: the operations of a recording of several
    /// that were acknowledged before the power loss.
    pub acks: usize,
    /// Issued ops (excluding Sync*/Ack) that did not fully persist, in order;
    /// a rename of which one half persisted is listed here and in `rename_halves`.
    pub lost: Vec<usize>,
    /// A write kept only partly: op index, bytes kept.
    pub torn: Option<(usize, u64)>,
    /// Renames of which only one half persisted.
    pub rename_halves: Vec<(usize, RenameHalf)>,
    pub tree: Tree,
}

#[derive(Debug, Clone)]
pub struct Enumeration {
    /// Distinct states, in generation order (smallest crash point first).
    pub states: Vec<CrashState>,
    /// States generated before deduplication.
    pub considered: usize,
    /// False if heuristics replaced some subset enumeration or the cap was hit.
    pub exhaustive: bool,
    /// Why it was not exhaustive (distinct reasons, in the order met).
    pub cut_short: Vec<String>,
}

impl Enumeration {
    fn cut(&mut self, reason: String) {
        self.exhaustive = false;
        if !self.cut_short.contains(&reason) {
            self.cut_short.push(reason);
        }
    }
}

/// One name in a state.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Entry {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
}

/// The in-memory content of a state: every name under the store directory.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Tree {
    entries: BTreeMap<RelPath, Entry>,
}

impl Tree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, path: impl Into<RelPath>, entry: Entry) {
        self.entries.insert(path.into(), entry);
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// The content of the file named `path`, if it is a file.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        match self.entries.get(path) {
            Some(Entry::File { data, .. }) => Some(data),
            _ => None,
        }
    }

    /// All names in path order (so a directory precedes what it contains).
    pub fn entries(&self) -> impl Iterator<Item = (&RelPath, &Entry)> {
        self.entries.iter()
    }

    pub fn files(&self) -> impl Iterator<Item = (&RelPath, u32, &[u8])> {
        self.entries.iter().filter_map(|(p, e)| match e {
            Entry::File { mode, data } => Some((p, *mode, data.as_slice())),
            Entry::Dir { .. } => None,
        })
    }

    pub fn dirs(&self) -> impl Iterator<Item = (&RelPath, u32)> {
        self.entries.iter().filter_map(|(p, e)| match e {
            Entry::Dir { mode } => Some((p, *mode)),
            Entry::File { .. } => None,
        })
    }

    /// SHA-256 over a length-prefixed encoding, so distinct trees cannot collide by concatenation.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for (path, entry) in &self.entries {
            h.update((path.len() as u64).to_le_bytes());
            h.update(path.as_bytes());
            match entry {
                Entry::Dir { mode } => {
                    h.update([b'd']);
                    h.update(mode.to_le_bytes());
                }
                Entry::File { mode, data } => {
                    h.update([b'f']);
                    h.update(mode.to_le_bytes());
                    h.update((data.len() as u64).to_le_bytes());
                    h.update(data);
                }
            }
        }
        h.finalize().into()
    }
}

impl CrashState {
    /// A one-line account for reports; names ops, never their data.
    pub fn describe(&self, ops: &[FsOp]) -> String {
        let op = |i: usize| ops.get(i).map_or_else(|| "?".to_string(), FsOp::describe);
        let mut s = match self.crash_after {
            0 => "power loss before the first op".to_string(),
            c => format!("power loss after op {} ({})", c - 1, op(c - 1)),
        };
        s.push_str(if self.acked {
            ", acknowledged"
        } else {
            ", not acknowledged"
        });
        if self.lost.is_empty() {
            s.push_str("; nothing lost");
        } else {
            let items: Vec<String> = self
                .lost
                .iter()
                .map(|&i| {
                    let half = match self.rename_halves.iter().find(|(j, _)| *j == i) {
                        Some((_, RenameHalf::NewNameOnly)) => ": only the new name persisted",
                        Some((_, RenameHalf::OldNameRemovedOnly)) => {
                            ": only the old name's removal persisted"
                        }
                        None => "",
                    };
                    format!("{i} ({}{half})", op(i))
                })
                .collect();
            s.push_str(&format!("; lost: {}", items.join(", ")));
        }
        if let Some((i, kept)) = self.torn {
            let len = match ops.get(i) {
                Some(FsOp::Write { data, .. }) => data.len(),
                _ => 0,
            };
            s.push_str(&format!("; torn: {i} kept {kept} of {len} bytes"));
        }
        s
    }
}

/// A part of an op that persists or not as one: a whole op, or one half of a
/// rename (Portable only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Whole,
    NewName,
    OldName,
}

fn parts(op: &FsOp, profile: Profile) -> &'static [Part] {
    match op {
        _ if !op.is_persistable() => &[],
        FsOp::Rename { .. } if profile == Profile::Portable => &[Part::NewName, Part::OldName],
        _ => &[Part::Whole],
    }
}

/// Whether `sync` makes `part` of an earlier `op` durable.
fn forces(sync: &FsOp, op: &FsOp, part: Part, profile: Profile) -> bool {
    match sync {
        FsOp::SyncAll => true,
        FsOp::SyncFile { ino } => match op {
            FsOp::Write { ino: i, .. } | FsOp::SetLen { ino: i, .. } => i == ino,
            // ext4 commits the new inode's directory entry in the fsync's transaction.
            FsOp::Create { ino: i, .. } => profile == Profile::Ext4Ordered && i == ino,
            _ => false,
        },
        FsOp::SyncDir { path } => {
            let in_dir = |p: &str| parent_of(p) == path;
            match op {
                FsOp::Create { path: p, .. }
                | FsOp::Mkdir { path: p, .. }
                | FsOp::Link { to: p, .. }
                | FsOp::Remove { path: p } => in_dir(p),
                FsOp::Rename { from, to, .. } => match part {
                    Part::NewName => in_dir(to),
                    Part::OldName => in_dir(from),
                    Part::Whole => in_dir(to) || in_dir(from),
                },
                _ => false,
            }
        }
        _ => false,
    }
}

type Unit = (usize, Part);

/// For each op and each of its parts, the index of the first sync forcing it
/// (usize::MAX if none): the part is forced in a prefix of length c iff that index < c.
fn forced_at(ops: &[FsOp], profile: Profile) -> Vec<Vec<usize>> {
    let mut at: Vec<Vec<usize>> = ops
        .iter()
        .map(|op| vec![usize::MAX; parts(op, profile).len()])
        .collect();
    for (j, sync) in ops.iter().enumerate() {
        for (i, op) in ops[..j].iter().enumerate() {
            for (k, &part) in parts(op, profile).iter().enumerate() {
                if at[i][k] == usize::MAX && forces(sync, op, part, profile) {
                    at[i][k] = j;
                }
            }
        }
    }
    if profile == Profile::Ext4Ordered {
        // The journal commits metadata in order: forcing one metadata op forces every earlier one.
        let mut earliest = usize::MAX;
        for (i, op) in ops.iter().enumerate().rev() {
            if op.is_persistable() && !matches!(op, FsOp::Write { .. }) {
                earliest = earliest.min(at[i][0]);
                at[i][0] = earliest;
            }
        }
    }
    at
}

/// Subsets of `n` free units to try (true = kept), and whether that is all of them.
fn subsets(n: usize, limit: usize) -> (Vec<Vec<bool>>, bool) {
    if n <= limit.min(24) {
        let all = (0u64..1 << n)
            .map(|m| (0..n).map(|b| m >> b & 1 == 1).collect())
            .collect();
        return (all, true);
    }
    // ALICE's heuristics: in-order prefixes (the last keeps all), then all but one
    // (omitting the last is already the prefix of n-1).
    let mut v: Vec<Vec<bool>> = (0..=n).map(|k| (0..n).map(|b| b < k).collect()).collect();
    v.extend((0..n - 1).map(|skip| (0..n).map(|b| b != skip).collect()));
    (v, false)
}

/// Torn-write lengths: the first few page boundaries and thirds, each strictly inside the write.
fn tear_points(len: usize) -> Vec<usize> {
    let mut t: Vec<usize> = (1..=4).map(|k| k * 4096).filter(|&t| t < len).collect();
    t.extend(
        [len / 3, 2 * len / 3]
            .into_iter()
            .filter(|&t| t > 0 && t < len),
    );
    t.sort_unstable();
    t.dedup();
    t
}

/// A name during replay: directories by path (they have no hard links),
/// files by inode so content follows the inode, not the name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(Ino),
}

/// The starting point of every replay.
struct Base {
    names: BTreeMap<RelPath, Node>,
    /// File inodes: mode and content (empty for files the ops create).
    files: HashMap<Ino, (u32, Vec<u8>)>,
    /// Modes of directories the ops make, for a dir rename whose Mkdir was lost.
    dir_modes: HashMap<Ino, u32>,
}

impl Base {
    fn new(initial: &Snapshot, ops: &[FsOp]) -> Self {
        let mut names = BTreeMap::new();
        let mut files = HashMap::new();
        let mut dir_modes = HashMap::new();
        for (path, mode) in &initial.dirs {
            names.insert(path.clone(), Node::Dir(*mode));
        }
        for (path, ino, mode, data) in &initial.files {
            names.insert(path.clone(), Node::File(*ino));
            files.entry(*ino).or_insert_with(|| (*mode, data.clone()));
        }
        // An inode exists even if the op naming it was lost: a later rename or link may still name it.
        for op in ops {
            match op {
                FsOp::Create { ino, mode, .. } => {
                    files.entry(*ino).or_insert_with(|| (*mode, Vec::new()));
                }
                FsOp::Mkdir { ino, mode, .. } => {
                    dir_modes.insert(*ino, *mode);
                }
                _ => {}
            }
        }
        Base {
            names,
            files,
            dir_modes,
        }
    }

    /// Replays, in program order, the parts of ops[..persisted.len()] marked
    /// persisted: [whole or new-name half, old-name half].
    fn apply(&self, ops: &[FsOp], persisted: &[[bool; 2]], torn: Option<(usize, usize)>) -> Tree {
        let mut names = self.names.clone();
        let mut files = self.files.clone();
        for (i, (op, &[new, old])) in ops.iter().zip(persisted).enumerate() {
            match op {
                FsOp::Create { path, ino, .. } if new && has_parent(&names, path) => {
                    names.insert(path.clone(), Node::File(*ino));
                }
                FsOp::Mkdir { path, mode, .. } if new && has_parent(&names, path) => {
                    names.insert(path.clone(), Node::Dir(*mode));
                }
                FsOp::Write { ino, offset, data } if new => {
                    let kept = match torn {
                        Some((t, n)) if t == i => &data[..n.min(data.len())],
                        _ => data.as_slice(),
                    };
                    if let Some((_, content)) = files.get_mut(ino) {
                        let start = *offset as usize;
                        let end = start + kept.len();
                        if content.len() < end {
                            content.resize(end, 0);
                        }
                        content[start..end].copy_from_slice(kept);
                    }
                }
                FsOp::SetLen { ino, len } if new => {
                    if let Some((_, content)) = files.get_mut(ino) {
                        content.resize(*len as usize, 0);
                    }
                }
                FsOp::Rename { from, to, ino } => {
                    if new && from != to && has_parent(&names, to) {
                        self.rename_new_half(&mut names, from, to, *ino);
                    }
                    let still_names = match names.get(from) {
                        Some(Node::File(i)) => i == ino,
                        Some(Node::Dir(_)) => !files.contains_key(ino),
                        None => false,
                    };
                    if old && from != to && still_names {
                        remove_tree(&mut names, from);
                    }
                }
                FsOp::Link { to, ino }
                    if new && has_parent(&names, to) && files.contains_key(ino) =>
                {
                    names.insert(to.clone(), Node::File(*ino));
                }
                FsOp::Remove { path } if new => remove_tree(&mut names, path),
                _ => {}
            }
        }
        let mut tree = Tree::new();
        for (path, node) in names {
            match node {
                Node::Dir(mode) => tree.insert(path, Entry::Dir { mode }),
                Node::File(ino) => {
                    if let Some((mode, data)) = files.get(&ino) {
                        let (mode, data) = (*mode, data.clone());
                        tree.insert(path, Entry::File { mode, data });
                    }
                }
            }
        }
        tree
    }

    /// `to` names `ino`, replacing what it named; a directory brings its contents along.
    fn rename_new_half(&self, names: &mut BTreeMap<RelPath, Node>, from: &str, to: &str, ino: Ino) {
        let moved: Vec<(RelPath, Node)> = match names.get(from) {
            Some(Node::Dir(mode)) => {
                let prefix = format!("{from}/");
                let mut v = vec![(to.to_string(), Node::Dir(*mode))];
                v.extend(names.iter().filter_map(|(p, n)| {
                    p.strip_prefix(&prefix)
                        .map(|rest| (format!("{to}/{rest}"), n.clone()))
                }));
                v
            }
            _ if self.files.contains_key(&ino) => vec![(to.to_string(), Node::File(ino))],
            _ => match self.dir_modes.get(&ino) {
                Some(mode) => vec![(to.to_string(), Node::Dir(*mode))],
                None => return,
            },
        };
        remove_tree(names, to);
        names.extend(moved);
    }
}

fn has_parent(names: &BTreeMap<RelPath, Node>, path: &str) -> bool {
    let parent = parent_of(path);
    parent.is_empty() || matches!(names.get(parent), Some(Node::Dir(_)))
}

/// Removes `path` and anything under it.
fn remove_tree(names: &mut BTreeMap<RelPath, Node>, path: &str) {
    if path.is_empty() {
        return;
    }
    let prefix = format!("{path}/");
    names.retain(|p, _| p != path && !p.starts_with(&prefix));
}

/// Every state a power loss could leave after each prefix of `ops`, deduplicated.
pub fn enumerate(
    initial: &Snapshot,
    ops: &[FsOp],
    profile: Profile,
    limits: &Limits,
) -> Enumeration {
    let forced = forced_at(ops, profile);
    let base = Base::new(initial, ops);
    let mut out = Enumeration {
        states: Vec::new(),
        considered: 0,
        exhaustive: true,
        cut_short: Vec::new(),
    };
    // Each crash point's units: those an earlier fsync forced, and the free ones.
    let mut points = Vec::new();
    for c in 0..=ops.len() {
        let acks = ops[..c].iter().filter(|op| matches!(op, FsOp::Ack)).count();
        let (mut always, mut free): (Vec<Unit>, Vec<Unit>) = (Vec::new(), Vec::new());
        for (i, op) in ops[..c].iter().enumerate() {
            for (k, &part) in parts(op, profile).iter().enumerate() {
                if forced[i][k] < c {
                    always.push((i, part));
                } else {
                    free.push((i, part));
                }
            }
        }
        let (choices, heuristic) = choices(ops, &free, profile, limits);
        if heuristic.is_some() {
            // One reason whatever the count, so a long recording says it once.
            out.cut(format!(
                "more than {} operations could each be lost at one crash point (every subset \
                 is tried up to that many): ALICE's prefix and omit-one heuristics were used",
                limits.exhaustive_up_to.min(24)
            ));
        }
        points.push((c, acks, always, free, choices));
    }
    let mut seen: HashSet<([u8; 32], usize)> = HashSet::new();
    // Two passes, so the cap never starves a late crash point (the acknowledgement is the
    // last): first at every crash point, the acknowledged ones first (a judge cut short by
    // time has seen them), the states that lose at most one free unit or keep a prefix of
    // them, untorn; then every choice with every tear, in order, until the cap. Within the
    // acknowledged and the unacknowledged points the order is kept, so a tree seen at several
    // points is named by the earliest.
    for pass in [Pass::Core, Pass::Rest] {
        let order: Box<dyn Iterator<Item = _>> = match pass {
            Pass::Core => Box::new(
                points
                    .iter()
                    .filter(|p| p.1 > 0)
                    .chain(points.iter().filter(|p| p.1 == 0)),
            ),
            Pass::Rest => Box::new(points.iter()),
        };
        for (c, acks, always, free, choices) in order {
            let (c, acks) = (*c, *acks);
            for kept in choices {
                let core = kept.len() + 1 >= free.len() || free.starts_with(kept);
                if pass == Pass::Core && !core {
                    continue;
                }
                let mut persisted = vec![[false; 2]; c];
                for &(i, part) in always.iter().chain(kept) {
                    match part {
                        Part::Whole => persisted[i] = [true, true],
                        Part::NewName => persisted[i][0] = true,
                        Part::OldName => persisted[i][1] = true,
                    }
                }
                let tears: Vec<Option<(usize, usize)>> = match pass {
                    Pass::Core => Vec::new(),
                    Pass::Rest => kept
                        .iter()
                        .flat_map(|&(i, _)| match &ops[i] {
                            FsOp::Write { data, .. } => tear_points(data.len())
                                .into_iter()
                                .map(|t| Some((i, t)))
                                .collect(),
                            _ => Vec::new(),
                        })
                        .collect(),
                };
                // A core choice's untorn state came in the first pass.
                let untorn = (pass == Pass::Core || !core).then_some(None);
                for torn in untorn.into_iter().chain(tears) {
                    out.considered += 1;
                    let tree = base.apply(ops, &persisted, torn);
                    if !seen.insert((tree.digest(), acks)) {
                        continue;
                    }
                    if out.states.len() >= limits.max_states {
                        out.cut(format!(
                            "the cap of {} distinct states was reached",
                            limits.max_states
                        ));
                        return out;
                    }
                    out.states.push(state(ops, c, acks, &persisted, torn, tree));
                }
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Core,
    Rest,
}

/// The sets of free units to keep at one crash point, and how many units were too many to
/// try every subset of (`None`: every subset was tried).
fn choices(
    ops: &[FsOp],
    free: &[Unit],
    profile: Profile,
    limits: &Limits,
) -> (Vec<Vec<Unit>>, Option<usize>) {
    let pick = |units: &[Unit], mask: &[bool]| -> Vec<Unit> {
        units
            .iter()
            .zip(mask)
            .filter(|(_, &k)| k)
            .map(|(u, _)| *u)
            .collect()
    };
    match profile {
        Profile::Portable => {
            let (masks, all) = subsets(free.len(), limits.exhaustive_up_to);
            let kept = masks.iter().map(|m| pick(free, m)).collect();
            (kept, (!all).then_some(free.len()))
        }
        Profile::Ext4Ordered => {
            let (writes, meta): (Vec<Unit>, Vec<Unit>) = free
                .iter()
                .copied()
                .partition(|(i, _)| matches!(ops[*i], FsOp::Write { .. }));
            let (masks, all) = subsets(writes.len(), limits.exhaustive_up_to);
            let kept = (0..=meta.len())
                .flat_map(|k| {
                    let (meta, writes) = (&meta, &writes);
                    masks.iter().map(move |m| {
                        let mut kept = meta[..k].to_vec();
                        kept.extend(pick(writes, m));
                        kept
                    })
                })
                .collect();
            (kept, (!all).then_some(writes.len()))
        }
    }
}

fn state(
    ops: &[FsOp],
    c: usize,
    acks: usize,
    persisted: &[[bool; 2]],
    torn: Option<(usize, usize)>,
    tree: Tree,
) -> CrashState {
    let lost = (0..c)
        .filter(|&i| ops[i].is_persistable() && persisted[i] != [true, true])
        .collect();
    let rename_halves = (0..c)
        .filter(|&i| matches!(ops[i], FsOp::Rename { .. }))
        .filter_map(|i| match persisted[i] {
            [true, false] => Some((i, RenameHalf::NewNameOnly)),
            [false, true] => Some((i, RenameHalf::OldNameRemovedOnly)),
            _ => None,
        })
        .collect();
    CrashState {
        crash_after: c,
        acked: acks > 0,
        acks,
        lost,
        torn: torn.map(|(i, t)| (i, t as u64)),
        rename_halves,
        tree,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::ops::fixtures::{create, store_with_aa, write};

    const PROFILES: [Profile; 2] = [Profile::Portable, Profile::Ext4Ordered];

    fn run(snap: &Snapshot, ops: &[FsOp], profile: Profile) -> Enumeration {
        enumerate(snap, ops, profile, &Limits::default())
    }

    fn rename(from: &str, to: &str, ino: Ino) -> FsOp {
        FsOp::Rename {
            from: from.into(),
            to: to.into(),
            ino,
        }
    }

    fn sync_dir(path: &str) -> FsOp {
        FsOp::SyncDir { path: path.into() }
    }

    /// Atomic replace: write a temp file, fsync it, rename it over, fsync the dir.
    fn atomic_put(with_dir_sync: bool) -> Vec<FsOp> {
        let mut ops = vec![
            create("secrets/.tmp", 2),
            write(2, b"new-value"),
            FsOp::SyncFile { ino: 2 },
            rename("secrets/.tmp", "secrets/aa", 2),
        ];
        if with_dir_sync {
            ops.push(sync_dir("secrets"));
        }
        ops.push(FsOp::Ack);
        ops
    }

    #[test]
    fn atomic_replace_never_exposes_partial_value() {
        let ops = atomic_put(true);
        for profile in PROFILES {
            let e = run(&store_with_aa(), &ops, profile);
            assert!(e.exhaustive);
            assert!(e.states.iter().any(|s| s.acked));
            for s in &e.states {
                let aa = s.tree.file("secrets/aa");
                assert!(
                    aa == Some(b"old") || aa == Some(b"new-value"),
                    "{profile:?}: {} left {aa:?}",
                    s.describe(&ops)
                );
                if s.acked {
                    assert_eq!(aa, Some(&b"new-value"[..]), "{}", s.describe(&ops));
                }
            }
            // Some crash exposes the temp file torn: the enumeration does tear writes.
            assert!(e.states.iter().any(|s| s.torn.is_some()));
        }
        // Content follows the inode: the create lost, the rename kept, the value is there.
        let e = run(&store_with_aa(), &ops, Profile::Portable);
        assert!(e.states.iter().any(|s| s.lost.contains(&0)
            && s.tree.get("secrets/.tmp").is_none()
            && s.tree.file("secrets/aa") == Some(b"new-value")));
    }

    #[test]
    fn in_place_write_is_only_safe_with_fsync() {
        let synced = vec![
            FsOp::SetLen { ino: 1, len: 0 },
            write(1, b"new-value"),
            FsOp::SyncFile { ino: 1 },
            FsOp::Ack,
        ];
        for profile in PROFILES {
            let e = run(&store_with_aa(), &synced, profile);
            assert!(e
                .states
                .iter()
                .any(|s| !s.acked && s.tree.file("secrets/aa") == Some(b"")));
            for s in e.states.iter().filter(|s| s.acked) {
                assert_eq!(s.tree.file("secrets/aa"), Some(&b"new-value"[..]));
            }
        }
        let e = run(&store_with_aa(), &synced, Profile::Portable);
        assert!(e
            .states
            .iter()
            .any(|s| s.torn == Some((1, 3)) && s.tree.file("secrets/aa") == Some(b"new")));
        assert!(e
            .states
            .iter()
            .any(|s| s.torn == Some((1, 6)) && s.tree.file("secrets/aa") == Some(b"new-va")));

        let unsynced = [synced[0].clone(), synced[1].clone(), FsOp::Ack];
        for profile in PROFILES {
            let e = run(&store_with_aa(), &unsynced, profile);
            assert!(e
                .states
                .iter()
                .any(|s| s.acked && s.tree.file("secrets/aa") == Some(b"")));
        }
    }

    #[test]
    fn missing_dir_fsync_can_lose_acked_rename() {
        let ops = atomic_put(false);
        for profile in PROFILES {
            let e = run(&store_with_aa(), &ops, profile);
            assert!(e
                .states
                .iter()
                .any(|s| s.acked && s.tree.file("secrets/aa") == Some(b"old")));
        }
        let e = run(&store_with_aa(), &ops, Profile::Portable);
        let both = e
            .states
            .iter()
            .find(|s| {
                s.tree.file("secrets/.tmp") == Some(b"new-value")
                    && s.tree.file("secrets/aa") == Some(b"new-value")
            })
            .map(|s| s.rename_halves.clone());
        assert_eq!(both, Some(vec![(3, RenameHalf::NewNameOnly)]));
        // Ext4 renames are atomic: never two names for the value.
        let e = run(&store_with_aa(), &ops, Profile::Ext4Ordered);
        for s in &e.states {
            assert!(s.rename_halves.is_empty());
            assert!(
                s.tree.get("secrets/.tmp").is_none() || s.tree.file("secrets/aa") == Some(b"old")
            );
        }
    }

    #[test]
    fn key_published_without_fsync_can_be_empty_when_acked() {
        let ops = vec![
            create(".key-tmp", 1),
            write(1, &[7; 32]),
            FsOp::Link {
                to: "key".into(),
                ino: 1,
            },
            FsOp::Remove {
                path: ".key-tmp".into(),
            },
            create("meta", 2),
            write(2, b"{}"),
            FsOp::SyncFile { ino: 2 },
            sync_dir(""),
            FsOp::Ack,
        ];
        for profile in PROFILES {
            let e = run(&Snapshot::default(), &ops, profile);
            assert!(
                e.states
                    .iter()
                    .any(|s| s.acked && s.tree.file("key") == Some(b"")),
                "{profile:?}"
            );
            // The dir fsync does make the name durable.
            for s in e.states.iter().filter(|s| s.acked) {
                assert!(s.tree.file("key").is_some());
                assert!(s.tree.get(".key-tmp").is_none());
                assert_eq!(s.tree.file("meta"), Some(&b"{}"[..]));
            }
        }
    }

    #[test]
    fn ext4_metadata_persists_in_order() {
        let ops = [create("a", 1), create("b", 2), create("c", 3)];
        let has = |s: &CrashState, p: &str| s.tree.get(p).is_some();
        let e = run(&Snapshot::default(), &ops, Profile::Ext4Ordered);
        assert_eq!(e.states.len(), 4);
        for s in &e.states {
            assert!(!has(s, "c") || has(s, "b"), "{}", s.describe(&ops));
            assert!(!has(s, "b") || has(s, "a"), "{}", s.describe(&ops));
        }
        let e = run(&Snapshot::default(), &ops, Profile::Portable);
        assert_eq!(e.states.len(), 8);
        assert!(e.states.iter().any(|s| has(s, "c") && !has(s, "a")));
    }

    #[test]
    fn ext4_file_fsync_persists_new_name_portable_does_not() {
        let ops = [
            create("a", 1),
            write(1, b"v"),
            FsOp::SyncFile { ino: 1 },
            FsOp::Ack,
        ];
        let acked_missing = |p| {
            run(&Snapshot::default(), &ops, p)
                .states
                .iter()
                .any(|s| s.acked && s.tree.get("a").is_none())
        };
        assert!(acked_missing(Profile::Portable));
        assert!(!acked_missing(Profile::Ext4Ordered));
    }

    #[test]
    fn dedup_reports_identical_trees_once() {
        let ops = [FsOp::SyncAll, FsOp::SyncAll, FsOp::Ack];
        let e = run(&store_with_aa(), &ops, Profile::Portable);
        assert_eq!(e.considered, 4);
        // Same tree unacknowledged (c = 0..=2, first kept) and acknowledged (c = 3), the
        // acknowledged first.
        assert_eq!(e.states.len(), 2);
        assert_eq!((e.states[0].crash_after, e.states[0].acked), (3, true));
        assert_eq!((e.states[1].crash_after, e.states[1].acked), (0, false));
        assert_eq!(e.states[0].tree.digest(), e.states[1].tree.digest());

        let ops = atomic_put(true);
        let e = run(&store_with_aa(), &ops, Profile::Portable);
        assert!(e.considered > e.states.len());
        let keys: HashSet<_> = e
            .states
            .iter()
            .map(|s| (s.tree.digest(), s.acked))
            .collect();
        assert_eq!(keys.len(), e.states.len());
    }

    #[test]
    fn a_recording_of_several_operations_counts_their_acknowledgements() {
        // Two operations, each acknowledged: the same tree is a distinct state at 0, 1 and 2
        // acknowledgements (a crash-history judge reads each against a different history).
        let ops = [FsOp::SyncAll, FsOp::Ack, FsOp::SyncAll, FsOp::Ack];
        let e = run(&store_with_aa(), &ops, Profile::Portable);
        let mut acks: Vec<(usize, bool)> = e.states.iter().map(|s| (s.acks, s.acked)).collect();
        acks.sort_unstable();
        assert_eq!(acks, [(0, false), (1, true), (2, true)]);
    }

    #[test]
    fn digest_distinguishes_content_mode_and_kind() {
        let mut a = Tree::new();
        a.insert(
            "x",
            Entry::File {
                mode: 0o600,
                data: b"1".to_vec(),
            },
        );
        let mut b = a.clone();
        assert_eq!(a.digest(), b.digest());
        b.insert(
            "x",
            Entry::File {
                mode: 0o644,
                data: b"1".to_vec(),
            },
        );
        assert_ne!(a.digest(), b.digest());
        b.insert(
            "x",
            Entry::File {
                mode: 0o600,
                data: b"2".to_vec(),
            },
        );
        assert_ne!(a.digest(), b.digest());
        b.insert("x", Entry::Dir { mode: 0o600 });
        assert_ne!(a.digest(), b.digest());
    }

    fn creates(n: usize) -> Vec<FsOp> {
        (0..n).map(|i| create(&format!("f{i}"), i as Ino)).collect()
    }

    #[test]
    fn heuristics_replace_exhaustive_search_above_limit() {
        let limits = Limits {
            exhaustive_up_to: 12,
            max_states: 1 << 20,
        };
        let e = enumerate(
            &Snapshot::default(),
            &creates(10),
            Profile::Portable,
            &limits,
        );
        assert!(e.exhaustive);
        assert_eq!(e.states.len(), 1 << 10);

        assert!(e.cut_short.is_empty());

        let ops = creates(14);
        let e = enumerate(&Snapshot::default(), &ops, Profile::Portable, &limits);
        assert!(!e.exhaustive);
        assert!(
            e.cut_short
                .iter()
                .any(|why| why.starts_with("more than 12 operations")),
            "{:?}",
            e.cut_short
        );
        assert!(e.states.len() < (1 << 14) / 3, "{}", e.states.len());
        // At 14 free units: 15 prefixes + 13 all-but-one (all-but-last is a prefix).
        let last = e.states.iter().filter(|s| s.crash_after == 14).count();
        assert!(last > 0 && last <= 28, "{last}");
        assert!(e
            .states
            .iter()
            .any(|s| s.crash_after == 14 && s.lost == vec![5]));
    }

    #[test]
    fn the_default_cap_leaves_room_for_every_exhaustive_crash_point() {
        let limits = Limits::default();
        let exhaustive_states = (1usize << (limits.exhaustive_up_to + 1)) - 1;
        assert!(exhaustive_states < limits.max_states);
        // So a recording of 14 free operations meets the heuristics, not the cap.
        let e = enumerate(
            &Snapshot::default(),
            &creates(14),
            Profile::Portable,
            &limits,
        );
        assert!(!e.exhaustive);
        assert!(
            e.cut_short.iter().all(|why| !why.contains("cap")),
            "{:?}",
            e.cut_short
        );
    }

    #[test]
    fn cap_stops_and_marks_non_exhaustive() {
        let limits = Limits {
            exhaustive_up_to: 12,
            max_states: 5,
        };
        let e = enumerate(
            &Snapshot::default(),
            &creates(4),
            Profile::Portable,
            &limits,
        );
        assert_eq!(e.states.len(), 5);
        assert!(!e.exhaustive);
        assert_eq!(e.cut_short, ["the cap of 5 distinct states was reached"]);
    }

    #[test]
    fn tear_points_are_inside_and_bounded() {
        assert_eq!(tear_points(9), vec![3, 6]);
        assert_eq!(tear_points(1), Vec::<usize>::new());
        assert_eq!(tear_points(10000), vec![3333, 4096, 6666, 8192]);
        assert_eq!(tear_points(1 << 20).len(), 6);
    }

    #[test]
    fn dir_rename_moves_contents_and_writes_zero_fill() {
        let snap = Snapshot {
            dirs: vec![("d".into(), 0o700)],
            files: vec![("d/f".into(), 1, 0o600, b"ab".to_vec())],
        };
        let ops = [
            FsOp::Write {
                ino: 1,
                offset: 4,
                data: b"z".to_vec(),
            },
            rename("d", "e", 99),
            FsOp::SyncAll,
        ];
        let e = run(&snap, &ops, Profile::Portable);
        let last = e
            .states
            .iter()
            .find(|s| s.crash_after == 2 && s.lost.is_empty());
        let tree = last.map(|s| s.tree.clone()).unwrap_or_default();
        assert!(tree.get("d").is_none());
        assert_eq!(tree.get("e"), Some(&Entry::Dir { mode: 0o700 }));
        assert_eq!(tree.file("e/f"), Some(&b"ab\0\0z"[..]));
    }

    #[test]
    fn describe_never_shows_written_data() {
        let secret = b"S3CR3T-KEY-MATERIAL-0123456789".to_vec();
        let ops = vec![
            create("secrets/.tmp", 2),
            write(2, &secret),
            rename("secrets/.tmp", "secrets/aa", 2),
            FsOp::Ack,
        ];
        let as_numbers = format!("{:?}", &secret[..4]);
        let as_numbers = as_numbers.trim_matches(|c| c == '[' || c == ']');
        let e = run(&store_with_aa(), &ops, Profile::Portable);
        let mut saw_torn = false;
        for s in &e.states {
            let d = s.describe(&ops);
            assert!(!d.contains("S3CR3T") && !d.contains(as_numbers), "{d}");
            saw_torn |= s.torn.is_some() && d.contains("torn: 1 kept");
        }
        assert!(saw_torn);
        let halves = e.states.iter().find(|s| !s.rename_halves.is_empty());
        let d = halves.map(|s| s.describe(&ops)).unwrap_or_default();
        assert!(
            d.contains("rename secrets/.tmp → secrets/aa: only the"),
            "{d}"
        );
    }
}
