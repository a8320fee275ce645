//! A feature's `expr`: numeric fields (or numbers) added and subtracted left to right —
//! `newbalanceOrig + amount - oldbalanceOrg` — or comparisons joined by `and`, giving 1 or 0 —
//! `oldbalanceOrg > 0 and newbalanceOrig == 0`. Small on purpose: what a fraud team writes as a
//! derivation, evaluated in the order written so offline and online give the same bits.

/// One operand: a field — by name as written (`F = String`), or by whatever [`Expr::resolve`] made
/// of the name, such as its index — or a number.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand<F = String> {
    /// A numeric field's value.
    Field(F),
    /// A number written in the expression.
    Number(f64),
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr<F = String> {
    /// The first operand, then each added (`true`) or subtracted (`false`), left to right.
    Arithmetic(Operand<F>, Vec<(bool, Operand<F>)>),
    /// Comparisons that must all hold: 1, else 0.
    All(Vec<(Operand<F>, Compare, Operand<F>)>),
}

impl Expr {
    /// Parses `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        if tokens.is_empty() {
            return Err("the expression is empty".into());
        }
        if tokens.iter().any(|t| compare(t).is_some()) {
            let mut all = Vec::new();
            for part in tokens.split(|t| *t == "and") {
                match part {
                    [a, op, b] => all.push((
                        operand(a)?,
                        compare(op).ok_or_else(|| format!("`{op}` is not a comparison"))?,
                        operand(b)?,
                    )),
                    _ => {
                        return Err(format!(
                            "`{}` is not `a OP b` (OP one of < <= > >= == !=)",
                            part.join(" ")
                        ))
                    }
                }
            }
            return Ok(Expr::All(all));
        }
        let first = operand(tokens[0])?;
        let mut rest = Vec::new();
        for pair in tokens[1..].chunks(2) {
            match pair {
                ["+", b] => rest.push((true, operand(b)?)),
                ["-", b] => rest.push((false, operand(b)?)),
                _ => {
                    return Err(format!(
                        "`{}`: write operands joined by + and -",
                        pair.join(" ")
                    ))
                }
            }
        }
        Ok(Expr::Arithmetic(first, rest))
    }
}

impl<F> Expr<F> {
    /// The fields it reads, in order of appearance.
    pub fn fields(&self) -> Vec<&F> {
        let operands: Vec<&Operand<F>> = match self {
            Expr::Arithmetic(first, rest) => std::iter::once(first)
                .chain(rest.iter().map(|(_, o)| o))
                .collect(),
            Expr::All(all) => all.iter().flat_map(|(a, _, b)| [a, b]).collect(),
        };
        operands
            .into_iter()
            .filter_map(|o| match o {
                Operand::Field(field) => Some(field),
                Operand::Number(_) => None,
            })
            .collect()
    }

    /// The same expression with each field replaced by `resolve` of it (a name by its index, so
    /// that evaluating looks nothing up by name).
    pub fn resolve<G>(&self, resolve: impl Fn(&F) -> G) -> Expr<G> {
        let operand = |o: &Operand<F>| match o {
            Operand::Field(field) => Operand::Field(resolve(field)),
            Operand::Number(n) => Operand::Number(*n),
        };
        match self {
            Expr::Arithmetic(first, rest) => Expr::Arithmetic(
                operand(first),
                rest.iter().map(|(add, o)| (*add, operand(o))).collect(),
            ),
            Expr::All(all) => Expr::All(
                all.iter()
                    .map(|(a, op, b)| (operand(a), *op, operand(b)))
                    .collect(),
            ),
        }
    }

    /// Its value, with `field` giving each field's.
    pub fn eval(&self, field: impl Fn(&F) -> f64) -> f64 {
        let value = |o: &Operand<F>| match o {
            Operand::Field(f) => field(f),
            Operand::Number(n) => *n,
        };
        match self {
            Expr::Arithmetic(first, rest) => rest.iter().fold(value(first), |acc, (add, o)| {
                if *add {
                    acc + value(o)
                } else {
                    acc - value(o)
                }
            }),
            Expr::All(all) => {
                let holds = all.iter().all(|(a, op, b)| {
                    let (a, b) = (value(a), value(b));
                    match op {
                        Compare::Lt => a < b,
                        Compare::Le => a <= b,
                        Compare::Gt => a > b,
                        Compare::Ge => a >= b,
                        Compare::Eq => a == b,
                        Compare::Ne => a != b,
                    }
                });
                f64::from(u8::from(holds))
            }
        }
    }
}

fn compare(token: &str) -> Option<Compare> {
    Some(match token {
        "<" => Compare::Lt,
        "<=" => Compare::Le,
        ">" => Compare::Gt,
        ">=" => Compare::Ge,
        "==" => Compare::Eq,
        "!=" => Compare::Ne,
        _ => return None,
    })
}

fn operand(token: &str) -> Result<Operand, String> {
    if let Ok(n) = token.parse::<f64>() {
        return if n.is_finite() {
            Ok(Operand::Number(n))
        } else {
            Err(format!("`{token}` is not a finite number"))
        };
    }
    let is_name = token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && token
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if is_name {
        Ok(Operand::Field(token.to_owned()))
    } else {
        Err(format!("`{token}` is neither a field name nor a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_runs_left_to_right_and_conditions_give_one_or_zero() {
        let values = |name: &String| match name.as_str() {
            "new" => 0.1,
            "amount" => 0.2,
            "old" => 0.3,
            _ => f64::NAN,
        };
        let balance = Expr::parse("new + amount - old").unwrap_or(Expr::All(vec![]));
        assert_eq!(balance.fields(), ["new", "amount", "old"]);
        // (0.1 + 0.2) - 0.3, exactly as Rust writes it: not 0.
        assert_eq!(
            balance.eval(values).to_bits(),
            (0.1f64 + 0.2 - 0.3).to_bits()
        );
        let emptied = Expr::parse("old > 0 and new == 0").unwrap_or(Expr::All(vec![]));
        assert_eq!(emptied.eval(values), 0.0);
        assert_eq!(emptied.eval(|n| if n == "old" { 5.0 } else { 0.0 }), 1.0);
        let by_index = balance.resolve(|name| usize::from(name != "new"));
        assert_eq!(
            by_index.eval(|i| [0.1, 0.2][*i]).to_bits(),
            (0.1f64 + 0.2 - 0.2).to_bits()
        );
        for bad in [
            "",
            "a +",
            "a * b",
            "a > ",
            "a > b and",
            "1e999 + a",
            "a + $b",
        ] {
            assert!(Expr::parse(bad).is_err(), "{bad}");
        }
    }
}
