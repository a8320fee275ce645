# shellcheck shell=bash
# What `aegis-stack up` needs to run the card spec (sourced by scripts/demo and scripts/check-ui):
# the spec, its sample replayed in event time, its rules, its model (trained on first use) and
# labels 10 s after their transaction.
# shellcheck disable=SC2034 # used by the scripts that source this file
CARDS_STACK_ARGS=(--spec specs/cards.toml
  --replay data/cards_every_10th_card_2018-04-01_2018-05-31.csv
  --rules deploy/rules/cards.json --model models/cards.model --label-delay 10s)
