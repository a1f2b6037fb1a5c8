"""t/lib/infratest.py — what every infra/ template test starts with.

The repository's paths, the TAP writer, the templates of infra/ loaded with
their short-form tags in long form (infra/tools/cfn_template.py), and a file
reader relative to the repository root.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INFRA = os.path.join(ROOT, "infra")
sys.path.insert(0, os.path.join(INFRA, "tools"))
import taplib  # noqa: E402
import cfn_template as cfn  # noqa: E402

ref, getatt = cfn.ref, cfn.getatt
t = taplib.Tap()
T = cfn.load_dir(INFRA)


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()
