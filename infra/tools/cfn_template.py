"""infra/tools/cfn_template.py — load CloudFormation YAML templates in Python.

PyYAML does not know CloudFormation's short-form tags (!Ref, !GetAtt, !Sub,
...); this loader turns each into its long form ({"Ref": x},
{"Fn::GetAtt": [resource, attribute]}, ...) so that tests can walk a
template as plain data. Used by t/70-infra-cfn.t; needs Debian's python3-yaml.
"""
import os

import yaml


class _Loader(yaml.SafeLoader):
    pass


def _construct(fn):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if fn == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {fn: value}
    return construct


for _tag in ("Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join",
             "Select", "Split", "Sub", "Transform", "And", "Equals", "If", "Not", "Or"):
    _Loader.add_constructor("!" + _tag, _construct("Fn::" + _tag))
_Loader.add_constructor("!Ref", _construct("Ref"))
_Loader.add_constructor("!Condition", _construct("Condition"))


def load(path):
    """Returns the template at path as dicts and lists (long-form intrinsics)."""
    with open(path) as f:
        return yaml.load(f, Loader=_Loader)


def load_dir(directory):
    """Returns {file name: template} for every *.yaml in directory."""
    return {name: load(os.path.join(directory, name))
            for name in sorted(os.listdir(directory)) if name.endswith(".yaml")}


def walk(node, path=()):
    """Yields (path, value) for every node of a template, depth first."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def ref(x):
    """The name a {"Ref": name} points at, else None."""
    return x.get("Ref") if isinstance(x, dict) else None


def getatt(x):
    """The [resource, attribute] of a {"Fn::GetAtt": ...}, else None."""
    return x.get("Fn::GetAtt") if isinstance(x, dict) else None
