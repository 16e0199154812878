// lowercase_dump.rs - prints Rust's char::to_lowercase for every scalar value
// whose lowercase is not the character itself, one line per character:
// "CP LC1 [LC2 ...]" in hex. Hugging Face tokenizers lowercases with this
// function, so gen_lowercase_overrides.py diffs it against utf8proc to find
// where the C side must be told the Rust answer.
//
// Build and run: rustc -O lowercase_dump.rs -o /tmp/lowercase_dump && /tmp/lowercase_dump
use std::io::Write;

fn main() {
    let out = std::io::stdout();
    let mut w = std::io::BufWriter::new(out.lock());
    for cp in 0u32..=0x10FFFF {
        let c = match char::from_u32(cp) {
            Some(c) => c,
            None => continue, // surrogates are not chars
        };
        let lower: Vec<char> = c.to_lowercase().collect();
        if lower.len() == 1 && lower[0] == c {
            continue;
        }
        write!(w, "{:04X}", cp).unwrap();
        for l in lower {
            write!(w, " {:04X}", l as u32).unwrap();
        }
        writeln!(w).unwrap();
    }
}
