//! Values as they are built (`TV`) and their encoding as a one-segment Cap'n Proto message (root
//! pointer first), the form `schema.capnp` stores default and constant pointer values in.

use crate::model::Type;

/// A value being built; numbers stay wide until written into their slot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TV {
    Null,
    Void,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Data(Vec<u8>),
    Enum(u64, u16),
    List(Type, Option<(u16, u16)>, Vec<TV>),
    Struct(u64, Box<Img>),
}

/// A struct value's sections; data bits are stored XORed with the fields' defaults.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Img {
    data: Vec<u64>,
    ptrs: Vec<TV>,
}

impl Img {
    /// A struct of the given section sizes, every bit zero and every pointer null.
    pub(crate) fn new(data_words: u16, pointers: u16) -> Self {
        Img {
            data: vec![0; data_words as usize],
            ptrs: vec![TV::Null; pointers as usize],
        }
    }

    pub(crate) fn sections_mut(&mut self) -> (&mut [u64], &mut [TV]) {
        (&mut self.data, &mut self.ptrs)
    }

    pub(crate) fn sections(&self) -> (&[u64], &[TV]) {
        (&self.data, &self.ptrs)
    }
}

/// Writes the low `width` bits of `value` at `bit_offset` (little-endian bit order); writes
/// past the end are dropped.
pub(crate) fn write_bits(data: &mut [u64], bit_offset: usize, width: usize, value: u64) {
    let word = bit_offset / 64;
    let shift = bit_offset % 64;
    let Some(w) = data.get_mut(word) else {
        return;
    };
    let mask = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    *w = (*w & !(mask << shift)) | ((value & mask) << shift);
}

/// Encodes `tv`; `None` for a null pointer.
pub(crate) fn encode_root(tv: &TV) -> Option<Vec<capnp::Word>> {
    if matches!(tv, TV::Null) {
        return None;
    }
    let mut words: Vec<u64> = vec![0];
    write_ptr(&mut words, 0, tv, &Type::Void);
    Some(
        words
            .iter()
            .map(|w| {
                let b = w.to_le_bytes();
                capnp::word(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7])
            })
            .collect(),
    )
}

fn alloc(words: &mut Vec<u64>, n: usize) -> usize {
    let at = words.len();
    words.resize(at + n, 0);
    at
}

fn list_ptr(words: &mut [u64], at: usize, target: usize, size: u64, count: u64) {
    let off = (target as i64 - at as i64 - 1) as i32 as u32;
    words[at] = u64::from(off << 2 | 1) | (size | count << 3) << 32;
}

fn struct_ptr(words: &mut [u64], at: usize, target: usize, dw: u16, pc: u16) {
    let off = (target as i64 - at as i64 - 1) as i32 as u32;
    words[at] = u64::from(off << 2) | (u64::from(dw) | u64::from(pc) << 16) << 32;
}

fn bytes_into(words: &mut [u64], start: usize, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        let w = &mut words[start + i / 8];
        *w |= u64::from(*b) << ((i % 8) * 8);
    }
}

fn elem_bits(t: &Type) -> Option<(u64, usize)> {
    // (size code, bits per element) for non-pointer, non-struct elements
    Some(match t {
        Type::Void => (0, 0),
        Type::Bool => (1, 1),
        Type::Int8 | Type::UInt8 => (2, 8),
        Type::Int16 | Type::UInt16 | Type::Enum(..) => (3, 16),
        Type::Int32 | Type::UInt32 | Type::Float32 => (4, 32),
        Type::Int64 | Type::UInt64 | Type::Float64 => (5, 64),
        _ => return None,
    })
}

fn scalar_bits(tv: &TV, t: &Type) -> u64 {
    match (tv, t) {
        (TV::Bool(b), _) => u64::from(*b),
        (TV::Enum(_, v), _) => u64::from(*v),
        (TV::Float(f), Type::Float32) => u64::from((*f as f32).to_bits()),
        (TV::Float(f), _) => f.to_bits(),
        (TV::Int(v), Type::Float32) => u64::from((*v as f32).to_bits()),
        (TV::Int(v), Type::Float64) => (*v as f64).to_bits(),
        (TV::UInt(v), Type::Float32) => u64::from((*v as f32).to_bits()),
        (TV::UInt(v), Type::Float64) => (*v as f64).to_bits(),
        (TV::Int(v), _) => *v as u64,
        (TV::UInt(v), _) => *v,
        _ => 0,
    }
}

fn write_ptr(words: &mut Vec<u64>, at: usize, tv: &TV, _ty: &Type) {
    match tv {
        TV::Text(s) => {
            let n = s.len() + 1;
            let t = alloc(words, n.div_ceil(8));
            bytes_into(words, t, s.as_bytes());
            list_ptr(words, at, t, 2, n as u64);
        }
        TV::Data(d) => {
            let t = alloc(words, d.len().div_ceil(8));
            bytes_into(words, t, d);
            list_ptr(words, at, t, 2, d.len() as u64);
        }
        TV::Struct(_, img) => {
            let (data, ptrs) = img.sections();
            let t = alloc(words, data.len() + ptrs.len());
            words[t..t + data.len()].copy_from_slice(data);
            struct_ptr(words, at, t, data.len() as u16, ptrs.len() as u16);
            for (i, p) in ptrs.iter().enumerate() {
                write_ptr(words, t + data.len() + i, p, &Type::Void);
            }
        }
        TV::List(elem, size, items) => {
            if let Some((code, bits)) = elem_bits(elem) {
                let n = (items.len() * bits).div_ceil(64);
                let t = alloc(words, n);
                for (i, it) in items.iter().enumerate() {
                    if bits > 0 {
                        let v = scalar_bits(it, elem);
                        write_bits(&mut words[t..t + n], i * bits, bits, v);
                    }
                }
                list_ptr(words, at, t, code, items.len() as u64);
            } else if let (Type::Struct(..), Some((dw, pc))) = (elem, size) {
                let per = usize::from(*dw) + usize::from(*pc);
                let t = alloc(words, 1 + per * items.len());
                // The tag: a struct pointer whose offset field counts the elements.
                words[t] =
                    (items.len() as u64) << 2 | (u64::from(*dw) | u64::from(*pc) << 16) << 32;
                for (i, it) in items.iter().enumerate() {
                    let base = t + 1 + i * per;
                    if let TV::Struct(_, img) = it {
                        let (data, ptrs) = img.sections();
                        for (j, d) in data.iter().enumerate().take(usize::from(*dw)) {
                            words[base + j] = *d;
                        }
                        for (j, p) in ptrs.iter().enumerate().take(usize::from(*pc)) {
                            write_ptr(words, base + usize::from(*dw) + j, p, &Type::Void);
                        }
                    }
                }
                list_ptr(words, at, t, 7, (per * items.len()) as u64);
            } else {
                let t = alloc(words, items.len());
                for (i, it) in items.iter().enumerate() {
                    write_ptr(words, t + i, it, elem);
                }
                list_ptr(words, at, t, 6, items.len() as u64);
            }
        }
        _ => {}
    }
}
