//! PaySim's fraud events: a victim drained into mules in pieces of at most PaySim's largest
//! transfer, each piece cashed out from another account; the flagged remainder; lone fraud rows.

use aegis_core::TxType;
use rand::Rng;

use super::profile::cents;
use super::Simulator;

impl Simulator {
    /// One fraud event: its rows, in order, go to the pending queue.
    pub(super) fn fraud(&mut self) {
        let fraud = self.profiles.fraud;
        if self.rng.random_bool(fraud.lone) {
            let tx_type = if self.rng.random_bool(fraud.lone_cash_out) {
                TxType::CashOut
            } else {
                TxType::Transfer
            };
            let mut tx = self.legit_of(tx_type, Some(fraud.lone_origin_empty));
            tx.is_fraud = Some(true);
            self.push(tx, false);
            return;
        }
        let victim = fraud.victim.sample(&mut self.rng);
        if victim <= fraud.max_transfer {
            self.drain(victim, victim);
            return;
        }
        let mut left = victim;
        while left > fraud.max_transfer {
            self.drain(fraud.max_transfer, left);
            left = cents(left - fraud.max_transfer);
        }
        if left > 0.0 && self.rng.random_bool(fraud.flagged_remainder) {
            // Flagged by PaySim's rule and not carried out: the balances stay as they were.
            let (victim, mule) = (self.account('C'), self.account('C'));
            let mut attempt = self.row(TxType::Transfer, left, victim, mule);
            attempt.old_balance_orig = left;
            attempt.new_balance_orig = left;
            attempt.is_fraud = Some(true);
            self.push(attempt, true);
        }
    }

    /// A transfer of `amount` from a victim holding `balance` to a mule, then a CASH_OUT of the
    /// same amount from another account (PaySim never cashes out from the mule it paid).
    fn drain(&mut self, amount: f64, balance: f64) {
        let fraud = self.profiles.fraud;
        let (victim, mule) = (self.account('C'), self.account('C'));
        let mut transfer = self.row(TxType::Transfer, amount, victim, mule);
        transfer.old_balance_orig = balance;
        transfer.new_balance_orig = cents(balance - amount);
        transfer.is_fraud = Some(true);
        if !self.rng.random_bool(fraud.mule_balances_zero) {
            let destination = self.profiles.of(TxType::Transfer).destination;
            if let Some(destination) = destination {
                self.settle(&destination, &mut transfer);
            }
        }
        self.push(transfer, false);

        let (cashier, payee) = (self.account('C'), self.account('C'));
        let mut cash_out = self.row(TxType::CashOut, amount, cashier, payee);
        cash_out.old_balance_orig = cents(amount);
        cash_out.is_fraud = Some(true);
        self.settle(&fraud.cash_out_destination, &mut cash_out);
        self.push(cash_out, false);
    }
}
