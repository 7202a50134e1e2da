//! What the loader checks of an ELF file before handing it to `dlopen`: a 64-bit
//! little-endian shared object for this machine whose headers and segments lie within the
//! file. The dynamic loader maps segments without checking them against the file's length,
//! so a truncated library would otherwise fault (SIGBUS) on first touch, killing the process.

/// `e_machine` of this build's architecture.
#[cfg(target_arch = "x86_64")]
const MACHINE: (u16, &str) = (62, "x86_64");
#[cfg(target_arch = "aarch64")]
const MACHINE: (u16, &str) = (183, "aarch64");
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const MACHINE: (u16, &str) = (0, std::env::consts::ARCH);

fn u16_at(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u64
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Checks `bytes`; the error says what is wrong, to follow "kernel library <origin> ".
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err(
            "is not a shared library (no ELF header): build one with `sweep kernel \
                    build`"
                .into(),
        );
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err("is not a 64-bit little-endian ELF file".into());
    }
    let (kind, machine) = (u16_at(bytes, 16), u16_at(bytes, 18));
    if kind != 3 {
        return Err(format!(
            "is an ELF file of type {kind}, not a shared library (type 3): build it as a cdylib"
        ));
    }
    if machine != MACHINE.0 as u64 {
        return Err(format!(
            "is built for ELF machine {machine}, not this machine's {} ({})",
            MACHINE.1, MACHINE.0
        ));
    }
    let len = bytes.len() as u64;
    let truncated = |end: u64| {
        format!("is truncated or damaged: its headers reach byte {end}, the file has {len}")
    };
    let table = |off: u64, entsize: u64, count: u64| -> Result<(), String> {
        let end = entsize
            .checked_mul(count)
            .and_then(|n| n.checked_add(off))
            .unwrap_or(u64::MAX);
        if end > len {
            Err(truncated(end))
        } else {
            Ok(())
        }
    };
    let (phoff, phentsize, phnum) = (u64_at(bytes, 32), u16_at(bytes, 54), u16_at(bytes, 56));
    let (shoff, shentsize, shnum) = (u64_at(bytes, 40), u16_at(bytes, 58), u16_at(bytes, 60));
    table(phoff, phentsize, phnum)?;
    table(shoff, shentsize, shnum)?;
    if phnum == 0 || phentsize < 56 {
        return Err("has no program headers: it is not a loadable library".into());
    }
    for i in 0..phnum {
        let at = (phoff + i * phentsize) as usize;
        let (offset, filesz) = (u64_at(bytes, at + 8), u64_at(bytes, at + 32));
        let end = offset.saturating_add(filesz);
        if end > len {
            return Err(format!(
                "is truncated or damaged: segment {i} ends at byte {end}, the file has {len}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF header for this machine with one program header.
    fn header(kind: u16, segment_end: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&kind.to_le_bytes());
        b[18..20].copy_from_slice(&MACHINE.0.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&1u16.to_le_bytes());
        b[64 + 32..64 + 40].copy_from_slice(&segment_end.to_le_bytes()); // filesz, offset 0
        b
    }

    #[test]
    fn whole_truncated_and_foreign_files() {
        assert_eq!(check(&header(3, 200, 200)), Ok(()));
        assert_eq!(
            check(&header(3, 4096, 200)).unwrap_err(),
            "is truncated or damaged: segment 0 ends at byte 4096, the file has 200"
        );
        assert!(check(&header(2, 200, 200)).unwrap_err().contains("type 2"));
        let mut cut = header(3, 200, 200);
        cut.truncate(100);
        assert!(check(&cut).unwrap_err().contains("headers reach byte 120"));
        assert!(check(b"#!/bin/sh").unwrap_err().contains("no ELF header"));
    }
}
