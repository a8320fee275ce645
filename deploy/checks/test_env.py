"""env.py finds each kind of clash, on --help texts shaped as clap prints them.

  python -m unittest discover -s deploy/checks -p 'test_*.py'
"""

import unittest

from env import options_of, problems_in

SCORER = """Score transactions

Usage: aegis-scorer [OPTIONS] --brokers <BROKERS>

Options:
      --brokers <BROKERS>
          Kafka bootstrap servers, e.g. `localhost:9092`
          
          [env: AEGIS_BROKERS=]

      --verdicts-topic <TOPIC>
          Topic verdicts are written to
          
          [env: AEGIS_VERDICTS_TOPIC=]
          [default: verdicts]

      --max-in-flight <MAX_IN_FLIGHT>
          Batches in flight before intake waits
          
          [env: {in_flight}=]
          [default: 64]

  -h, --help
          Print help
"""

OUTCOMES = """Join verdicts

Usage: aegis-outcomes [OPTIONS] --brokers <BROKERS>

Options:
      --brokers <BROKERS>      Kafka bootstrap servers [env: AEGIS_BROKERS=]
      --{verdicts_flag} <TOPIC>  The verdicts topic [env: AEGIS_VERDICTS_TOPIC=] [default: {verdicts_default}]
      --max-in-flight <MAX_IN_FLIGHT>
          Outcomes written and not yet acknowledged before intake waits
          
          [env: {in_flight}=]
          [default: 10000]

  -h, --help
          Print help
"""


def helps(scorer_in_flight="AEGIS_SCORER_MAX_IN_FLIGHT", outcomes_in_flight="AEGIS_OUTCOMES_MAX_IN_FLIGHT",
          verdicts_flag="verdicts-topic", verdicts_default="verdicts"):
    return {
        ("aegis-scorer", None): SCORER.format(in_flight=scorer_in_flight),
        ("aegis-outcomes", None): OUTCOMES.format(
            in_flight=outcomes_in_flight, verdicts_flag=verdicts_flag, verdicts_default=verdicts_default),
    }


class EnvCheck(unittest.TestCase):
    def test_options_are_read_from_long_and_short_help(self):
        long = options_of(SCORER.format(in_flight="AEGIS_SCORER_MAX_IN_FLIGHT"))
        self.assertEqual(long["AEGIS_VERDICTS_TOPIC"], ("--verdicts-topic", "verdicts", "TOPIC"))
        self.assertEqual(long["AEGIS_SCORER_MAX_IN_FLIGHT"], ("--max-in-flight", "64", "MAX_IN_FLIGHT"))
        self.assertEqual(long["AEGIS_BROKERS"], ("--brokers", None, "BROKERS"))
        short = options_of(OUTCOMES.format(in_flight="X", verdicts_flag="verdicts-topic", verdicts_default="v"))
        self.assertEqual(short["AEGIS_VERDICTS_TOPIC"], ("--verdicts-topic", "v", "TOPIC"))

    def test_prefixed_and_consistently_shared_variables_pass(self):
        self.assertEqual(problems_in(helps()), [])

    def test_one_variable_with_two_meanings_fails(self):
        # The case of issue 31: 64 batches in the scorer, 10,000 outcomes in aegis-outcomes.
        found = problems_in(helps("AEGIS_MAX_IN_FLIGHT", "AEGIS_MAX_IN_FLIGHT"))
        self.assertEqual(len(found), 1, found)
        self.assertIn("AEGIS_MAX_IN_FLIGHT is read by aegis-outcomes, aegis-scorer", found[0])
        self.assertIn("(default 64)", found[0])
        self.assertIn("(default 10000)", found[0])

    def test_a_shared_variable_with_another_flag_or_default_fails(self):
        found = problems_in(helps(verdicts_flag="topic"))
        self.assertTrue(any("AEGIS_VERDICTS_TOPIC is shared" in f and "means different things" in f
                            for f in found), found)
        found = problems_in(helps(verdicts_default="verdicts.v2"))
        self.assertEqual(len(found), 1, found)
        self.assertIn("default verdicts.v2", found[0])

    def test_an_unprefixed_variable_of_one_binary_fails(self):
        found = problems_in(helps(scorer_in_flight="AEGIS_MAX_IN_FLIGHT"))
        self.assertEqual(len(found), 1, found)
        self.assertIn("AEGIS_MAX_IN_FLIGHT (aegis-scorer --max-in-flight) is aegis-scorer's own: "
                      "name it AEGIS_SCORER_…", found[0])


if __name__ == "__main__":
    unittest.main()
