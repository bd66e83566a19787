//! What is checked of a component before a single byte of it is compiled: that it is a
//! bounded regular file, that it exports the runtime interface in a compatible version,
//! that it imports nothing the host does not grant, and that its code is not built to
//! make the compiler spend minutes and gigabytes (a "compile bomb").
//!
//! Compiling is the one step of loading that no call budget covers, and Cranelift's cost
//! grows with the size of the largest function and its locals, not with the file. So
//! the static caps bound the compiler's work per function; a compiler worker process
//! ([`crate::Compiler::Worker`]) bounds the whole, in memory and in time.

use std::io::Read;
use std::path::Path;

use wasmparser::{Parser, Payload};

use runplane_model::text::bounded_line;

use crate::boundary::MAX_MESSAGE_BYTES;
use crate::error::LoadError;
use crate::version;

/// Largest body of one core function (the largest of the built-in runtimes is about
/// 40 KiB; a compile bomb is one function of megabytes).
pub const MAX_FUNCTION_BYTES: usize = 512 << 10;
/// Most locals one core function may declare (wasmparser's own limit is 50,000).
pub const MAX_FUNCTION_LOCALS: u64 = 4096;
/// Most core functions a component may define, in all its modules.
pub const MAX_FUNCTIONS: usize = 100_000;

/// Import namespaces a runtime may use: the deny-all WASI context and the host's `log`.
/// Anything else (sockets, HTTP, another vendor's interface) is refused by name.
const GRANTED_IMPORTS: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "runplane:runtime/",
];

/// Reads the component at `path`: a regular file of at most `max_bytes`. The file is
/// opened without blocking (a FIFO would otherwise hang the host) and its type checked
/// on the open handle (a symlink to `/dev/zero` is not a regular file).
pub fn read_component(path: &Path, max_bytes: usize) -> Result<Vec<u8>, LoadError> {
    let origin = || path.display().to_string();
    let read_error = |source| LoadError::Read {
        origin: origin(),
        source,
    };
    let file = open_without_blocking(path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(LoadError::Refused {
            origin: origin(),
            reason: "not a regular file".into(),
        });
    }
    if metadata.len() > max_bytes as u64 {
        return Err(too_large(&origin(), metadata.len(), max_bytes));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // The file may grow between the check and the read: read one byte past the cap.
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() > max_bytes {
        return Err(too_large(&origin(), bytes.len() as u64, max_bytes));
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_without_blocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
}

#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

fn too_large(origin: &str, size: u64, max_bytes: usize) -> LoadError {
    LoadError::Refused {
        origin: origin.to_string(),
        reason: format!("{size} bytes, over the {max_bytes} byte limit for a component"),
    }
}

/// The first four bytes of every WebAssembly module and component.
const WASM_MAGIC: &[u8] = b"\0asm";

/// Checks `bytes` without compiling them: size, exports, imports and the cost of its
/// code. `max_bytes` is [`Limits::component_bytes`](crate::Limits::component_bytes).
pub(crate) fn inspect(bytes: &[u8], origin: &str, max_bytes: usize) -> Result<(), LoadError> {
    if bytes.len() > max_bytes {
        return Err(too_large(origin, bytes.len() as u64, max_bytes));
    }
    let refused = |reason: String| LoadError::Refused {
        origin: origin.to_string(),
        reason,
    };
    // wasmparser's messages can span lines (a Debug list of the magic bytes): one line.
    let malformed = |error: wasmparser::BinaryReaderError| LoadError::Compile {
        origin: origin.to_string(),
        message: bounded_line(error.to_string(), MAX_MESSAGE_BYTES),
    };
    if !bytes.starts_with(WASM_MAGIC) {
        // wasmparser would print the two magics as Debug lists of bytes.
        let start = &bytes[..bytes.len().min(WASM_MAGIC.len())];
        let hex: Vec<String> = start.iter().map(|byte| format!("{byte:02x}")).collect();
        return Err(LoadError::Compile {
            origin: origin.to_string(),
            message: format!(
                "not WebAssembly: it starts with bytes [{}] ({:?}), not the magic \\0asm",
                hex.join(" "),
                String::from_utf8_lossy(start)
            ),
        });
    }
    let mut depth = 0_usize;
    let mut is_component = false;
    let mut exports = Vec::new();
    let mut functions = 0_usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::Version { encoding, .. } => {
                if depth == 0 {
                    is_component = encoding == wasmparser::Encoding::Component;
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    let name = import.map_err(malformed)?.name.name;
                    if !GRANTED_IMPORTS.iter().any(|g| name.starts_with(g)) {
                        return Err(LoadError::Link {
                            origin: origin.to_string(),
                            message: format!(
                                "import {name} (a runtime may import only {})",
                                GRANTED_IMPORTS.join("*, ") + "*"
                            ),
                        });
                    }
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    exports.push(export.map_err(malformed)?.name.name.to_string());
                }
            }
            Payload::CodeSectionEntry(body) => {
                functions += 1;
                if functions > MAX_FUNCTIONS {
                    return Err(refused(format!("more than {MAX_FUNCTIONS} functions")));
                }
                let size = body.range().len();
                if size > MAX_FUNCTION_BYTES {
                    return Err(refused(format!(
                        "function #{functions} has {size} bytes of code, over the {MAX_FUNCTION_BYTES} byte limit of one function"
                    )));
                }
                let mut locals = 0_u64;
                for group in body.get_locals_reader().map_err(malformed)? {
                    locals += u64::from(group.map_err(malformed)?.0);
                }
                if locals > MAX_FUNCTION_LOCALS {
                    return Err(refused(format!(
                        "function #{functions} declares {locals} locals, over the limit of {MAX_FUNCTION_LOCALS}"
                    )));
                }
            }
            _ => {}
        }
    }
    if !is_component {
        return Err(LoadError::Compile {
            origin: origin.to_string(),
            message: "a core module or other bytes, not a component".into(),
        });
    }
    version::check_exports(&exports, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_runtimes_pass_with_room_to_spare() {
        for (name, bytes) in runplane_builtins::COMPONENTS {
            inspect(bytes, name, usize::MAX).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (mut largest, mut most_locals) = (0, 0_u64);
            for payload in Parser::new(0).parse_all(bytes) {
                if let Ok(Payload::CodeSectionEntry(body)) = payload {
                    largest = largest.max(body.range().len());
                    let locals = body.get_locals_reader().unwrap();
                    most_locals =
                        most_locals.max(locals.into_iter().map(|g| u64::from(g.unwrap().0)).sum());
                }
            }
            assert!(
                largest * 4 < MAX_FUNCTION_BYTES,
                "{name}: largest function {largest}"
            );
            assert!(
                most_locals * 4 < MAX_FUNCTION_LOCALS,
                "{name}: most locals {most_locals}"
            );
        }
    }

    #[test]
    fn a_file_that_is_not_webassembly_is_one_line_naming_its_first_bytes() {
        for (bytes, shown) in [
            (&b"hello world"[..], r#"[68 65 6c 6c] ("hell")"#),
            (&b"\x7fELF\x02"[..], r#"[7f 45 4c 46] ("\u{7f}ELF")"#),
            (&b""[..], r#"[] ("")"#),
        ] {
            let error = inspect(bytes, "bad.wasm", usize::MAX)
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                format!(
                    "bad.wasm is not a valid WebAssembly component: not WebAssembly: it starts \
                     with bytes {shown}, not the magic \\0asm"
                )
            );
        }
    }
}
