//! Arithmetic on unsigned decimal magnitudes — digit vectors, most significant
//! digit first, one digit (0..=9) per byte — for [`super::numeric`]. Results
//! carry no leading zeros (zero is the empty vector); inputs may.

use std::cmp::Ordering;

/// Compares two magnitudes without leading zeros.
pub fn mag_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |x: &[u8]| -> usize { x.iter().take_while(|&&d| d == 0).count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

pub fn mag_add(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let mut s = carry;
        if i > 0 {
            i -= 1;
            s += a[i];
        }
        if j > 0 {
            j -= 1;
            s += b[j];
        }
        out.push(s % 10);
        carry = s / 10;
    }
    out.reverse();
    out
}

/// a - b for a ≥ b.
pub fn mag_sub(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let (mut j, mut borrow) = (b.len(), 0i8);
    for i in (0..a.len()).rev() {
        let mut d = a[i] as i8 - borrow;
        if j > 0 {
            j -= 1;
            d -= b[j] as i8;
        }
        borrow = (d < 0) as i8;
        out.push((d + 10 * borrow) as u8);
    }
    out.reverse();
    let leading = out.iter().take_while(|&&d| d == 0).count();
    out.drain(..leading);
    out
}

pub fn mag_mul(a: &[u8], b: &[u8]) -> Vec<u8> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    // Accumulate column sums least-significant first, then carry once.
    let mut acc = vec![0u64; a.len() + b.len()];
    for (i, &x) in a.iter().rev().enumerate() {
        for (j, &y) in b.iter().rev().enumerate() {
            acc[i + j] += x as u64 * y as u64;
        }
    }
    let mut carry = 0u64;
    let mut out: Vec<u8> = acc
        .into_iter()
        .map(|v| {
            let s = v + carry;
            carry = s / 10;
            (s % 10) as u8
        })
        .collect();
    while carry > 0 {
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    out.reverse();
    let leading = out.iter().take_while(|&&d| d == 0).count();
    out.drain(..leading);
    out
}

/// Long division of magnitudes: (quotient, remainder); `b` must be non-zero.
pub fn mag_divmod(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut quotient = Vec::with_capacity(a.len());
    let mut remainder: Vec<u8> = Vec::with_capacity(b.len() + 1);
    for &digit in a {
        if !(remainder.is_empty() && digit == 0) {
            remainder.push(digit);
        }
        let mut q = 0u8;
        while mag_cmp(&remainder, b) != Ordering::Less {
            remainder = mag_sub(&remainder, b);
            q += 1;
        }
        quotient.push(q);
    }
    let leading = quotient.iter().take_while(|&&d| d == 0).count();
    quotient.drain(..leading);
    (quotient, remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    fn text(d: &[u8]) -> String {
        d.iter().map(|&x| char::from(b'0' + x)).collect()
    }

    #[test]
    fn schoolbook_operations() {
        assert_eq!(text(&mag_add(&digits("999"), &digits("1"))), "1000");
        assert_eq!(text(&mag_sub(&digits("1000"), &digits("1"))), "999");
        assert_eq!(text(&mag_sub(&digits("5"), &digits("5"))), "");
        assert_eq!(
            text(&mag_mul(&digits("12345"), &digits("6789"))),
            "83810205"
        );
        let (q, r) = mag_divmod(&digits("1000"), &digits("7"));
        assert_eq!((text(&q), text(&r)), ("142".into(), "6".into()));
        assert_eq!(mag_cmp(&digits("0012"), &digits("12")), Ordering::Equal);
        assert_eq!(mag_cmp(&digits("9"), &digits("10")), Ordering::Less);
    }
}
