"""Test oracles, importable by pipeline jobs (tests/ on PYTHONPATH).

``CountingEMT`` is ASE's EMT that appends one line per *finished* call to a
log file (purpose and a hash of the structure), so tests can count oracle
calls across processes and resumed runs. It can also fail on purpose:

- ``fail_every=k``: every k-th learning call (``info['purpose'] == 'learn'``)
  of a process raises;
- environment ``ALFF_TEST_CRASH_AFTER=n``: a learning call kills its process
  (``os._exit``) once n learning calls have finished - a node dying mid-run.
"""

import hashlib
import os

import numpy as np
from ase.calculators.emt import EMT


class CountingEMT(EMT):
    def __init__(self, log_path, fail_every=0, **kwargs):
        super().__init__(**kwargs)
        self.log_path = log_path
        self.fail_every = int(fail_every)
        self._learn_calls = 0

    def _finished(self, purpose):
        if not os.path.exists(self.log_path):
            return 0
        with open(self.log_path) as fh:
            return sum(1 for line in fh if line.startswith(purpose + " "))

    def calculate(self, atoms=None, properties=("energy",), system_changes=("positions",)):
        purpose = atoms.info.get("purpose", "none") if atoms is not None else "none"
        if purpose == "learn":
            self._learn_calls += 1
            crash = int(os.environ.get("ALFF_TEST_CRASH_AFTER", "0") or 0)
            if crash and self._finished("learn") >= crash:
                os._exit(17)
            if self.fail_every and self._learn_calls % self.fail_every == 0:
                raise RuntimeError("SCF did not converge (test oracle)")
        super().calculate(atoms, properties, system_changes)
        key = hashlib.sha1(np.round(atoms.positions, 8).tobytes()).hexdigest()[:16]
        with open(self.log_path, "a") as fh:
            fh.write(f"{purpose} {key}\n")
