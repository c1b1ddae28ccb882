//! [`SimFile`]: an open handle of [`SimFs`]. Every read, write, fsync and close is one step.

use std::io::{self, Read, Write};
use std::path::Path;

use keyrace_core::{FsFile, Metadata};

use super::tree::{Ino, Node};
use super::{CallKind, SimFs, State, SIM_UID};

/// An open SimFs handle. Closing (dropping) it is a scheduling point too.
#[derive(Debug)]
pub struct SimFile {
    fs: SimFs,
    handle: u64,
    ino: Ino,
    generation: u64,
    pos: usize,
    /// The name it was opened by, for the trace.
    path: String,
}

impl SimFile {
    /// The file for a handle `(number, inode, generation)` the filesystem just opened.
    pub(super) fn new(
        fs: &SimFs,
        (handle, ino, generation): (u64, Ino, u64),
        path: &Path,
    ) -> SimFile {
        SimFile {
            fs: fs.clone(),
            handle,
            ino,
            generation,
            pos: 0,
            path: path.display().to_string(),
        }
    }

    /// The handle is dead if a crash happened since it was opened.
    fn live(&self, state: &State) -> io::Result<()> {
        if state.generation != self.generation || !state.handles.contains_key(&self.handle) {
            return Err(io::Error::other(format!(
                "handle #{} was lost in a crash",
                self.handle
            )));
        }
        Ok(())
    }

    fn shown(&self) -> String {
        format!("#{} {}", self.handle, self.path)
    }
}

impl Read for SimFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (pos, ino) = (self.pos, self.ino);
        let path = self.shown();
        let this = &*self;
        let n = this.fs.op(
            CallKind::Read,
            Path::new(&path),
            None,
            |n: &usize| format!("{n} bytes"),
            |state| {
                this.live(state)?;
                let Node::File { data, .. } = state.tree.node(ino) else {
                    return Err(io::Error::other("not a file"));
                };
                let available = data.get(pos..).unwrap_or_default();
                let n = available.len().min(buf.len());
                buf[..n].copy_from_slice(&available[..n]);
                Ok(n)
            },
        )?;
        self.pos += n;
        Ok(n)
    }
}

impl Write for SimFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (pos, ino) = (self.pos, self.ino);
        let path = self.shown();
        let this = &*self;
        let n = this.fs.op(
            CallKind::Write,
            Path::new(&path),
            None,
            |n: &usize| format!("{n} bytes"),
            |state| {
                this.live(state)?;
                let n = state.write_chunk.unwrap_or(buf.len()).min(buf.len());
                let Node::File { data, .. } = state.tree.node_mut(ino) else {
                    return Err(io::Error::other("not a file"));
                };
                if data.len() < pos + n {
                    data.resize(pos + n, 0);
                }
                data[pos..pos + n].copy_from_slice(&buf[..n]);
                Ok(n)
            },
        )?;
        self.pos += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FsFile for SimFile {
    fn sync_all(&mut self) -> io::Result<()> {
        let ino = self.ino;
        let path = self.shown();
        let this = &*self;
        this.fs.op(
            CallKind::SyncFile,
            Path::new(&path),
            None,
            |_| "ok".into(),
            |state| {
                this.live(state)?;
                if let Node::File { data, durable, .. } = state.tree.node_mut(ino) {
                    *durable = data.clone();
                }
                Ok(())
            },
        )
    }

    fn metadata(&self) -> io::Result<Metadata> {
        let ino = self.ino;
        let path = self.shown();
        let describe = |m: &Metadata| format!("{:?}, {} bytes", m.kind, m.len);
        self.fs
            .op(CallKind::Fstat, Path::new(&path), None, describe, |state| {
                self.live(state)?;
                Ok(state.tree.metadata(ino, SIM_UID))
            })
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut state = self.fs.lock();
        if state.generation == self.generation {
            state.handles.remove(&self.handle);
            let actor = self.fs.actor.clone();
            state.record(&actor, CallKind::Close, self.shown(), "ok".into());
        }
    }
}
