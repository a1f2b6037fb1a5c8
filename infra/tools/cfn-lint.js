#!/usr/bin/env node
// infra/tools/cfn-lint.js — lints CloudFormation templates with the npm
// cfn-lint, against a current resource specification.
//
// The npm cfn-lint (the only cfn-lint an npm/Debian-only machine can install)
// bundles the CloudFormation resource specification of 2019, which does not
// know AWS::ECS::CapacityProvider, the deployment circuit breaker or CodeStar
// connections. Its checks (types, required properties, unknown properties,
// Ref/GetAtt targets and attributes, intrinsic functions, parameter types)
// are driven by that spec, so this wrapper swaps in the specification that
// @aws-cdk/cfnspec ships (same format, AWS-generated) before validating.
//
//   node infra/tools/cfn-lint.js infra/*.yaml
// prints one line per error or warning and exits 1 when any template has an
// error. Warnings do not fail (the tool warns on every nested-stack Output it
// cannot resolve); pass --strict to fail on them too.
'use strict';

const path = require('path');
const root = path.resolve(__dirname, '..', '..');
const req = (m) => require(require.resolve(m, { paths: [root] }));

const awsData = req('cfn-lint/lib/awsData');
const spec = req('@aws-cdk/cfnspec/spec/specification.json');

// Replace in place: the validator holds a reference to this object.
awsData.awsResources.ResourceTypes = spec.ResourceTypes;
awsData.awsResources.PropertyTypes = spec.PropertyTypes;
awsData.awsResources.ResourceSpecificationVersion = spec.ResourceSpecificationVersion;

// The npm linter predates Fn::Cidr (2018): without this its YAML parser
// rejects the !Cidr tag outright. Registering the function (before the
// parser module builds its YAML schema from this table) lets it parse;
// it still cannot evaluate it, hence the waiver below. AWS's own cfn-lint
// (pip) checks Fn::Cidr fully (t/76-infra-baseline.t).
awsData.awsIntrinsicFunctions['Fn::Cidr'] = { supportedFunctions: ['Ref', 'Fn::Select', 'Fn::GetAtt', 'Fn::ImportValue'] };

const api = req('cfn-lint/lib/api');
const fs = require('fs');

// Example values for parameters the linter cannot guess (ARNs); only those a
// template declares are passed.
const exampleParams = JSON.parse(fs.readFileSync(path.join(__dirname, 'lint-parameters.json'), 'utf8'));

// Findings that are wrong, each with the reason. Keep this list short.
const waivers = [
  {
    file: 'cluster.yaml',
    message: /AutoScalingGroupArn: Expecting an ARN/,
    why: 'ECS takes the Auto Scaling group name here, and AWS::AutoScaling::AutoScalingGroup has no Arn attribute',
  },
  {
    file: 'network.yaml',
    message: /^: Fn::Select does not support the Fn::Cidr function in argument 2$/,
    why: 'the subnets are !Select [n, !Cidr [VpcCidr, ...]]; this linter cannot evaluate Fn::Cidr (see above)',
  },
  {
    file: 'master.yaml',
    message: /^Rules > [A-Za-z]+ > (RuleCondition|Assertions > \d+ > Assert): Intrinsic function Fn::Equals is not supported here$/,
    why: 'this linter predates the Rules section, where Fn::Equals is the documented rule function; AWS\'s cfn-lint checks Rules',
  },
];
const waived = (file, line) => waivers.some((w) => path.basename(file) === w.file && w.message.test(line));

const args = process.argv.slice(2);
const strict = args.includes('--strict');
const files = args.filter((a) => a !== '--strict');
if (files.length === 0) {
  console.error('usage: cfn-lint.js [--strict] TEMPLATE...');
  process.exit(2);
}

// Parses CloudFormation's short-form tags (!Ref, !GetAtt, ...) only to read
// the parameter names; the linter has its own parser.
function cfnSchema() {
  const yaml = req('js-yaml');
  const tags = ['Ref', 'GetAtt', 'Sub', 'Join', 'If', 'Equals', 'Not', 'And', 'Or', 'Select', 'GetAZs',
    'Base64', 'Split', 'FindInMap', 'ImportValue', 'Condition', 'Cidr'];
  const types = [];
  for (const t of tags) for (const kind of ['scalar', 'sequence', 'mapping'])
    types.push(new yaml.Type('!' + t, { kind, construct: (d) => ({ [t]: d }) }));
  return yaml.Schema.create(types);
}

let failed = false;
for (const file of files) {
  const declared = Object.keys(req('js-yaml').safeLoad(fs.readFileSync(file, 'utf8'), { schema: cfnSchema() }).Parameters || {});
  const parameters = {};
  for (const name of declared) if (name in exampleParams) parameters[name] = exampleParams[name];
  const result = api.validateFile(file, { parameters });
  let errs = [].concat(...Object.values(result.errors)).map((e) => `${e.resource}: ${e.message}`);
  const warns = [].concat(...Object.values(result.warnings || {})).map((w) => `${w.resource}: ${w.message}`);
  for (const e of errs.filter((e) => waived(file, e))) console.log(`${file}: waived: ${e}`);
  errs = errs.filter((e) => !waived(file, e));
  for (const e of errs) console.log(`${file}: error: ${e}`);
  for (const w of warns) console.log(`${file}: warning: ${w}`);
  if (errs.length > 0 || (strict && warns.length > 0)) failed = true;
  console.log(`${file}: ${errs.length} error(s), ${warns.length} warning(s) (spec ${spec.ResourceSpecificationVersion})`);
}
process.exit(failed ? 1 : 0);
