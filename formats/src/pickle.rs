//! A data-only reader of Python pickles, for PyTorch checkpoints' `data.pkl` (run by the
//! inference worker). Python's own unpickler runs code: any global a pickle names is imported
//! and called. This reader calls nothing. A global is accepted only when it is one a state
//! dict is made of ([`ALLOWED`]); any other (`os.system`, `builtins.eval`, …) refuses the file.
//! A call (`REDUCE`, `NEWOBJ`) becomes a [`Value::Call`] record of what would be called.
//!
//! Why not `candle_core::pickle`, which candle's own `.pth` loader uses: it allocates a
//! string's claimed length before reading it, clones memoized objects on every read (a few
//! hundred bytes of pickle can ask for gigabytes), panics on short argument tuples, and
//! accepts any global. Here everything is bounded before it is allocated: the pickle's size,
//! each string by the bytes left, the objects made ([`MAX_VALUES`]), their nesting
//! ([`MAX_DEPTH`]), and memoized objects are shared, never copied.

use std::cell::RefCell;
use std::rc::Rc;

/// Largest pickle read: a state dict of a thousand tensors takes some hundreds of KiB.
pub const MAX_PICKLE: usize = 16 << 20;
/// Most values one pickle may make.
pub const MAX_VALUES: usize = 1 << 20;
/// Deepest nesting of containers (a state dict's tensors nest four deep).
pub const MAX_DEPTH: u32 = 32;

/// The globals a PyTorch state dict is made of: its dict, the tensor and parameter rebuilders
/// and the storage types.
pub const ALLOWED: &[(&str, &str)] = &[
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch", "FloatStorage"),
    ("torch", "HalfStorage"),
    ("torch", "BFloat16Storage"),
    ("torch", "DoubleStorage"),
    ("torch", "LongStorage"),
    ("torch", "IntStorage"),
    ("torch", "ShortStorage"),
    ("torch", "CharStorage"),
    ("torch", "ByteStorage"),
    ("torch", "BoolStorage"),
];

/// Why a pickle was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PickleError {
    /// Larger than any state dict's pickle.
    #[error("the pickle is {0} bytes; at most {MAX_PICKLE} are read")]
    TooLarge(usize),
    /// It ends before its STOP.
    #[error("the pickle ends early, at byte {0}")]
    Truncated(usize),
    /// An opcode a state dict never uses.
    #[error("the pickle uses opcode 0x{op:02x} at byte {at}, which a PyTorch state dict never does")]
    Opcode { op: u8, at: usize },
    /// A global outside [`ALLOWED`]: loading it in Python would run code.
    #[error("the pickle names {0}, which a PyTorch state dict never does: loading it in Python would run code")]
    Global(String),
    /// The pickle's own structure is wrong (an empty stack, a missing memo entry, …).
    #[error("the pickle is malformed at byte {at}: {what}")]
    Malformed { at: usize, what: &'static str },
    /// Too many values, or nested too deep.
    #[error("the pickle makes more than {MAX_VALUES} values or nests deeper than {MAX_DEPTH}")]
    TooBig,
}

/// A value the pickle made.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Tuple(Rc<[Value]>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// A global (always one of [`ALLOWED`]).
    Global(Rc<(String, String)>),
    /// What a `REDUCE` or `NEWOBJ` would call, and with what: never called.
    Call(Rc<(Value, Value)>),
    /// A persistent id (PyTorch's reference to a storage file).
    Persistent(Rc<Value>),
    /// `BUILD`'s state applied to an object: recorded, not applied.
    Build(Rc<(Value, Value)>),
}

impl Value {
    /// The value as a string, if it is one.
    pub fn str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an integer, if it is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The tuple's items, if it is a tuple.
    pub fn tuple(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(t) => Some(t),
            _ => None,
        }
    }
}

/// A value on the stack and how deep its containers nest.
type Slot = (Value, u32);

/// The stack machine's state.
struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Slot>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u32, Slot>,
    made: usize,
}

/// Key and value pairs from a flat run of values (SETITEMS, DICT).
fn pairs(items: Vec<Slot>, at: usize) -> Result<Vec<(Value, Value)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return Err(PickleError::Malformed {
            at,
            what: "a key without a value",
        });
    }
    let mut it = items.into_iter().map(|(v, _)| v);
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// Reads a pickle: the value its STOP returns.
pub fn read(bytes: &[u8]) -> Result<Value, PickleError> {
    if bytes.len() > MAX_PICKLE {
        return Err(PickleError::TooLarge(bytes.len()));
    }
    let mut m = Machine {
        bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Default::default(),
        made: 0,
    };
    loop {
        let op_at = m.at;
        let op = m.byte()?;
        if op == b'.' {
            let (v, _) = m.pop(op_at)?;
            return Ok(v);
        }
        m.step(op, op_at)?;
    }
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or(PickleError::Truncated(self.bytes.len()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(PickleError::Truncated(self.bytes.len()))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }

    fn bad(&self, at: usize, what: &'static str) -> PickleError {
        PickleError::Malformed { at, what }
    }

    /// Pushes `v`, made of values nested `depth` deep.
    fn push(&mut self, v: Value, depth: u32) -> Result<(), PickleError> {
        self.made += 1;
        if self.made > MAX_VALUES || depth > MAX_DEPTH {
            return Err(PickleError::TooBig);
        }
        self.stack.push((v, depth));
        Ok(())
    }

    fn pop(&mut self, at: usize) -> Result<Slot, PickleError> {
        if self.marks.last().is_some_and(|m| *m >= self.stack.len()) {
            return Err(self.bad(at, "a value popped from under a mark"));
        }
        self.stack.pop().ok_or_else(|| self.bad(at, "the stack is empty"))
    }

    /// The values above the last mark, and the mark removed.
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Slot>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.bad(at, "no mark"))?;
        Ok(self.stack.split_off(mark))
    }

    fn tuple(&mut self, items: Vec<Slot>) -> Result<(), PickleError> {
        let depth = items.iter().map(|(_, d)| d + 1).max().unwrap_or(0);
        let items: Vec<Value> = items.into_iter().map(|(v, _)| v).collect();
        self.push(Value::Tuple(items.into()), depth)
    }

    fn memo_put(&mut self, key: u32, at: usize) -> Result<(), PickleError> {
        let top = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| self.bad(at, "nothing to memoize"))?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u32, at: usize) -> Result<(), PickleError> {
        // Shared, as Python shares it: a clone of an Rc.
        let (v, d) = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.bad(at, "a memo entry that was never put"))?;
        self.push(v, d)
    }

    /// Adds `items` to the list or dict at the top of the stack.
    fn extend(&mut self, items: Vec<Slot>, at: usize) -> Result<(), PickleError> {
        let deepest = items.iter().map(|(_, d)| d + 1).max().unwrap_or(0);
        let (target, depth) = self.stack.last_mut().ok_or(PickleError::Malformed {
            at,
            what: "nothing to add to",
        })?;
        *depth = (*depth).max(deepest);
        if *depth > MAX_DEPTH {
            return Err(PickleError::TooBig);
        }
        match target {
            Value::List(l) => l.borrow_mut().extend(items.into_iter().map(|(v, _)| v)),
            Value::Dict(d) => d.borrow_mut().extend(pairs(items, at)?),
            // collections.OrderedDict() is a Call until items are set on it.
            Value::Call(c) if matches!(&c.0, Value::Global(g) if g.1 == "OrderedDict") => {
                *target = Value::Dict(Rc::new(RefCell::new(pairs(items, at)?)));
            }
            _ => return Err(self.bad(at, "items added to something not a list or dict")),
        }
        Ok(())
    }

    fn two(&mut self, at: usize) -> Result<(Slot, Slot), PickleError> {
        let b = self.pop(at)?;
        let a = self.pop(at)?;
        Ok((a, b))
    }

    /// One opcode (`op`, at byte `at`).
    fn step(&mut self, op: u8, at: usize) -> Result<(), PickleError> {
        match op {
            // PROTO n; FRAME n (protocol 4's framing, whose length says nothing we need).
            0x80 => drop(self.byte()?),
            0x95 => drop(self.take(8)?),
            b'(' => self.marks.push(self.stack.len()),
            b'N' => self.push(Value::None, 0)?,
            0x88 => self.push(Value::Bool(true), 0)?,
            0x89 => self.push(Value::Bool(false), 0)?,
            b'K' => {
                let v = self.byte()?;
                self.push(Value::Int(v.into()), 0)?
            }
            b'M' => {
                let v = self.u16()?;
                self.push(Value::Int(v.into()), 0)?
            }
            b'J' => {
                let v = self.u32()? as i32;
                self.push(Value::Int(v.into()), 0)?
            }
            0x8a => {
                // LONG1: n little-endian two's-complement bytes; more than 8 is no tensor size.
                let n = self.byte()? as usize;
                if n > 8 {
                    return Err(self.bad(at, "an integer wider than 64 bits"));
                }
                let b = self.take(n)?;
                let mut buf = if b.last().is_some_and(|x| x & 0x80 != 0) {
                    [0xff; 8]
                } else {
                    [0; 8]
                };
                buf[..n].copy_from_slice(b);
                self.push(Value::Int(i64::from_le_bytes(buf)), 0)?
            }
            b'G' => {
                let b: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
                self.push(Value::Float(f64::from_be_bytes(b)), 0)?
            }
            // BINUNICODE (u32 length), SHORT_BINUNICODE (u8 length): bounded by the bytes left.
            b'X' | 0x8c => {
                let n = if op == b'X' {
                    self.u32()? as usize
                } else {
                    self.byte()? as usize
                };
                let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                self.push(Value::Str(s.into()), 0)?
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.global(module, name)?
            }
            0x93 => {
                // STACK_GLOBAL: module and name from the stack.
                let ((module, _), (name, _)) = self.two(at)?;
                let (Some(module), Some(name)) = (module.str(), name.str()) else {
                    return Err(self.bad(at, "a global named by something not a string"));
                };
                self.global(module.to_string(), name.to_string())?
            }
            b')' => self.push(Value::Tuple(Rc::from(Vec::new())), 0)?,
            b't' => {
                let items = self.pop_mark(at)?;
                self.tuple(items)?
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n || self.marks.last().is_some_and(|m| *m > self.stack.len() - n) {
                    return Err(self.bad(at, "a tuple of values that are not there"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.tuple(items)?
            }
            b']' => self.push(Value::List(Rc::default()), 0)?,
            b'}' => self.push(Value::Dict(Rc::default()), 0)?,
            b'a' => {
                let item = self.pop(at)?;
                self.extend(vec![item], at)?
            }
            b's' => {
                let (k, v) = self.two(at)?;
                self.extend(vec![k, v], at)?
            }
            b'e' | b'u' => {
                let items = self.pop_mark(at)?;
                self.extend(items, at)?
            }
            b'd' | b'l' => {
                let items = self.pop_mark(at)?;
                let depth = items.iter().map(|(_, d)| d + 1).max().unwrap_or(0);
                let v = if op == b'l' {
                    Value::List(Rc::new(RefCell::new(items.into_iter().map(|(v, _)| v).collect())))
                } else {
                    Value::Dict(Rc::new(RefCell::new(pairs(items, at)?)))
                };
                self.push(v, depth)?
            }
            b'q' => {
                let k = self.byte()?;
                self.memo_put(k.into(), at)?
            }
            b'r' => {
                let k = self.u32()?;
                self.memo_put(k, at)?
            }
            0x94 => {
                // MEMOIZE: the next index.
                let k = self.memo.len() as u32;
                self.memo_put(k, at)?
            }
            b'h' => {
                let k = self.byte()?;
                self.memo_get(k.into(), at)?
            }
            b'j' => {
                let k = self.u32()?;
                self.memo_get(k, at)?
            }
            b'R' | 0x81 => {
                let ((f, fd), (args, ad)) = self.two(at)?;
                if !matches!(f, Value::Global(_)) {
                    return Err(self.bad(at, "a call of something not a global"));
                }
                self.push(Value::Call(Rc::new((f, args))), fd.max(ad) + 1)?
            }
            b'b' => {
                let ((obj, od), (state, sd)) = self.two(at)?;
                self.push(Value::Build(Rc::new((obj, state))), od.max(sd) + 1)?
            }
            b'Q' => {
                let (id, d) = self.pop(at)?;
                self.push(Value::Persistent(Rc::new(id)), d + 1)?
            }
            _ => return Err(PickleError::Opcode { op, at }),
        }
        Ok(())
    }

    fn global(&mut self, module: String, name: String) -> Result<(), PickleError> {
        if !ALLOWED.iter().any(|(m, n)| *m == module && *n == name) {
            return Err(PickleError::Global(format!("{module}.{name}")));
        }
        self.push(Value::Global(Rc::new((module, name))), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dict_of_strings_and_ints_is_read() {
        // pickle.dumps({"a": 1, "b": (2, "x")}, protocol=2)
        let p = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02K\x02X\x01\x00\x00\x00xq\x03\x86q\x04u.";
        let Value::Dict(d) = read(p).unwrap() else { panic!() };
        let d = d.borrow();
        assert_eq!(d[0].0.str(), Some("a"));
        assert_eq!(d[0].1.int(), Some(1));
        assert_eq!(d[1].1.tuple().unwrap()[1].str(), Some("x"));
    }

    #[test]
    fn a_pickle_naming_os_system_is_refused_before_anything_is_called() {
        // pickle.dumps of an object whose __reduce__ is (os.system, ("ls",)), protocol 2.
        let p = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
        assert_eq!(read(p), Err(PickleError::Global("posix.system".into())));
        let p = b"\x80\x02cbuiltins\neval\nq\x00.";
        assert!(read(p).unwrap_err().to_string().contains("builtins.eval"));
    }

    #[test]
    fn a_claimed_length_past_the_end_is_refused_without_allocating_it() {
        let p = b"\x80\x02X\xff\xff\xff\xffabc.";
        assert_eq!(read(p), Err(PickleError::Truncated(p.len())));
    }

    #[test]
    fn memo_reads_share_instead_of_copying_so_a_pickle_bomb_stays_small() {
        // A list put in the memo, then a list of it twice, memoized, thirty times over: 2^30
        // elements (16 GiB) if copied.
        let mut p = b"\x80\x02]q\x00".to_vec();
        for i in 0..30u8 {
            p.extend_from_slice(&[b'(', b'h', i, b'h', i, b'l', b'q', i + 1]);
        }
        p.push(b'.');
        assert!(matches!(read(&p), Ok(Value::List(_))));
    }

    #[test]
    fn nesting_past_the_limit_is_refused() {
        let mut p = b"\x80\x02".to_vec();
        p.extend(std::iter::repeat_n(b']', MAX_DEPTH as usize + 2));
        p.extend(std::iter::repeat_n(b'a', MAX_DEPTH as usize + 1));
        p.push(b'.');
        assert_eq!(read(&p), Err(PickleError::TooBig));
    }

    #[test]
    fn an_unknown_opcode_or_an_empty_stack_is_refused_with_where() {
        assert_eq!(read(b"\x80\x02i."), Err(PickleError::Opcode { op: b'i', at: 2 }));
        assert!(matches!(read(b"\x80\x02t."), Err(PickleError::Malformed { .. })));
        assert!(matches!(read(b"\x80\x02R."), Err(PickleError::Malformed { .. })));
        assert_eq!(read(b"\x80\x02N"), Err(PickleError::Truncated(3)));
    }
}
