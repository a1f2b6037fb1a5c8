#!/usr/bin/python3
# infra/: the production baseline of issue 17, property by property, read from
# the templates (infra/tools/cfn_template.py), plus AWS's own cfn-lint (pip)
# over every template when it is installed (t/70 runs the npm one):
#   1. HTTPS unless AllowHttpOnly=true; HTTP redirects to HTTPS
#   2. Redis AUTH token generated in Secrets Manager, given to the tasks
#      (the C side, URLs, AUTH and no password in logs: t/75-redis-auth.t)
#   3. alarms stack: SNS topic, 5xx rate, unhealthy hosts, Redis CPU and
#      memory, write-behind queue length and dead letters, pipeline failures
#   4. ALB access logs to S3 with a lifecycle rule, Container Insights,
#      Retain/Snapshot on every stateful resource, subnets from !Cidr of VpcCidr
import ipaddress
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from infratest import INFRA, ROOT, T, cfn, getatt, read, ref, t  # noqa: E402,F401
master, lb, redis, service, alarms, logs = (T[n] for n in (
    "master.yaml", "load-balancer.yaml", "redis.yaml", "service.yaml", "alarms.yaml", "access-logs.yaml"))
MR = master["Resources"]


def nested(name):
    """(template file, parameters) of a nested stack of the root stack."""
    p = MR[name]["Properties"]
    return p["TemplateURL"], p.get("Parameters", {})


def evaluate(node, params, conditions):
    """Value of a condition expression (or a Ref/literal) for these parameter values."""
    if not isinstance(node, dict):
        return node
    (fn, arg), = node.items()
    if fn == "Ref":
        return params[arg]
    if fn == "Condition":
        return evaluate(conditions[arg], params, conditions)
    if fn == "Fn::Equals":
        return str(evaluate(arg[0], params, conditions)) == str(evaluate(arg[1], params, conditions))
    if fn == "Fn::Not":
        return not evaluate(arg[0], params, conditions)
    if fn == "Fn::Or":
        return any(evaluate(a, params, conditions) for a in arg)
    if fn == "Fn::And":
        return all(evaluate(a, params, conditions) for a in arg)
    raise ValueError("cannot evaluate %s" % fn)


# ---- 1. HTTPS ----------------------------------------------------------------------
mp = master["Parameters"]
t.ok(mp["AllowHttpOnly"].get("Default") == "false" and sorted(mp["AllowHttpOnly"]["AllowedValues"]) == ["false", "true"]
     and mp["CertificateArn"].get("Default") == "",
     "master: AllowHttpOnly (default false) and CertificateArn parameters")


def rule_allows(params):
    """False when a Rules assertion of the root stack fails for these values."""
    for rule in master.get("Rules", {}).values():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], params, {}):
            continue
        if not all(evaluate(a["Assert"], params, {}) for a in rule["Assertions"]):
            return False
    return True


CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/x"
t.ok(not rule_allows({"CertificateArn": "", "AllowHttpOnly": "false"})
     and rule_allows({"CertificateArn": "", "AllowHttpOnly": "true"})
     and rule_allows({"CertificateArn": CERT, "AllowHttpOnly": "false"}),
     "master Rules: an empty CertificateArn is refused unless AllowHttpOnly=true")
_, lbp = nested("LoadBalancer")
t.ok(ref(lbp.get("CertificateArn")) == "CertificateArn" and ref(lbp.get("AllowHttpOnly")) == "AllowHttpOnly",
     "master passes CertificateArn and AllowHttpOnly to the load balancer")


def active_listeners(cert, allow):
    params = {"CertificateArn": cert, "AllowHttpOnly": allow}
    out = []
    for name, r in lb["Resources"].items():
        if r["Type"] != "AWS::ElasticLoadBalancingV2::Listener":
            continue
        if "Condition" in r and not evaluate({"Condition": r["Condition"]}, params, lb["Conditions"]):
            continue
        p = r["Properties"]
        for a in p["DefaultActions"]:
            if a["Type"] == "redirect":
                rc = a["RedirectConfig"]
                out.append((p["Port"], p["Protocol"], "redirect %s:%s %s" % (rc["Protocol"], rc["Port"], rc["StatusCode"])))
            else:
                out.append((p["Port"], p["Protocol"], a["Type"]))
    return sorted(out)


https = [r["Properties"] for r in lb["Resources"].values() if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener"
         and r["Properties"]["Protocol"] == "HTTPS"]
t.is_(active_listeners(CERT, "false"), [(80, "HTTP", "redirect HTTPS:443 HTTP_301"), (443, "HTTPS", "forward")],
      "with a certificate: HTTPS on 443 forwards, HTTP on 80 redirects to it (301)")
t.is_(active_listeners(CERT, "true"), [(80, "HTTP", "redirect HTTPS:443 HTTP_301"), (443, "HTTPS", "forward")],
      "with a certificate, AllowHttpOnly=true changes nothing: HTTP still redirects")
t.is_(active_listeners("", "true"), [(80, "HTTP", "forward")],
      "no certificate and AllowHttpOnly=true: plain HTTP forwarding only")
t.is_(active_listeners("", "false"), [], "no certificate, AllowHttpOnly=false: no listener would forward (the Rule refuses it first)")
t.ok(len(https) == 1 and [ref(c["CertificateArn"]) for c in https[0]["Certificates"]] == ["CertificateArn"]
     and https[0]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13"),
     "the HTTPS listener uses the certificate and a TLS 1.3/1.2 policy")

# ---- 2. Redis AUTH ------------------------------------------------------------------
RR = redis["Resources"]
secret = [(n, r) for n, r in RR.items() if r["Type"] == "AWS::SecretsManager::Secret"]
gen = secret[0][1]["Properties"].get("GenerateSecretString", {}) if len(secret) == 1 else {}
t.ok(len(secret) == 1 and 16 <= gen.get("PasswordLength", 0) <= 128 and gen.get("ExcludePunctuation") is True
     and "SecretStringTemplate" not in gen,
     "redis.yaml: the AUTH token is generated by Secrets Manager (16-128 letters and digits)", gen)
sname = secret[0][0] if secret else None
rg = RR["ReplicationGroup"]["Properties"]
t.ok(rg.get("TransitEncryptionEnabled") is True
     and rg.get("AuthToken") == {"Fn::Sub": "{{resolve:secretsmanager:${%s}}}" % sname},
     "ReplicationGroup: AuthToken resolved from that secret, with the transit encryption it needs", rg.get("AuthToken"))
t.ok(ref(redis["Outputs"]["AuthTokenSecretArn"]["Value"]) == sname
     and "@" not in json.dumps(redis["Outputs"]["RedisUrl"]["Value"]),
     "redis.yaml outputs the secret's ARN; the plain rediss:// URL carries no credentials")
_, sp = nested("Service")
t.ok(sp.get("RedisAuthTokenSecretArn") == {"Fn::GetAtt": ["Redis", "Outputs.AuthTokenSecretArn"]},
     "master passes the Redis stack's secret to the service")
containers = {c["Name"]: c for c in service["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]}
redis_users = sorted(n for n, c in containers.items() if any(e["Name"] == "OPONN_REDIS_URL" for e in c.get("Environment", [])))
with_pw = sorted(n for n, c in containers.items() for s in c.get("Secrets", [])
                 if s["Name"] == "OPONN_REDIS_PASSWORD" and ref(s["ValueFrom"]) == "RedisAuthTokenSecretArn")
t.ok(redis_users == with_pw == ["pool", "writer"],
     "every container that talks to Redis (pool, writer) gets OPONN_REDIS_PASSWORD as an ECS secret", (redis_users, with_pw))
stmts = service["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
t.ok(any(s["Action"] == "secretsmanager:GetSecretValue" and {"Ref": "RedisAuthTokenSecretArn"} in s["Resource"] for s in stmts),
     "the execution role may read the Redis secret")
cfg_h = open(os.path.join(ROOT, "lib", "cfg.h")).read()
t.ok('"OPONN_REDIS_PASSWORD", NULL' in cfg_h, "OPONN_REDIS_PASSWORD is a knob of lib/cfg.h (no default)")
ans_env = open(os.path.join(ROOT, "ansible", "roles", "oponn_app", "templates", "oponn.env.j2")).read()
ans_def = open(os.path.join(ROOT, "ansible", "roles", "oponn_common", "defaults", "main.yml")).read()
ans_redis = open(os.path.join(ROOT, "ansible", "roles", "oponn_redis", "templates", "redis.conf.j2")).read()
t.ok("OPONN_REDIS_PASSWORD={{ oponn_redis_password | quote }}" in ans_env
     and re.search(r'^oponn_redis_password: ""$', ans_def, re.M)
     and "requirepass {{ oponn_redis_password }}" in ans_redis,
     "ansible: OPONN_REDIS_PASSWORD and the local Redis' requirepass from a (vault) variable, empty in the repo")

# ---- 3. alarms ---------------------------------------------------------------------------
url, ap = nested("Alarms")
AR = alarms["Resources"]
t.ok(url == "alarms.yaml" and MR["Alarms"]["Type"] == "AWS::CloudFormation::Stack", "master: the alarms nested stack")
topics = [n for n, r in AR.items() if r["Type"] == "AWS::SNS::Topic"]
subs = [r for r in AR.values() if r["Type"] == "AWS::SNS::Subscription"]
t.ok(len(topics) == 1 and len(subs) == 1 and subs[0]["Properties"]["Protocol"] == "email"
     and ref(subs[0]["Properties"]["Endpoint"]) == "AlarmEmail" and alarms["Parameters"]["AlarmEmail"]["Default"] == ""
     and evaluate({"Condition": subs[0]["Condition"]}, {"AlarmEmail": ""}, alarms["Conditions"]) is False
     and evaluate({"Condition": subs[0]["Condition"]}, {"AlarmEmail": "ops@example.com"}, alarms["Conditions"]) is True
     and ref(ap.get("AlarmEmail")) == "AlarmEmail",
     "one SNS topic; the e-mail subscription exists only when AlarmEmail is given")
topic = topics[0]
tp = [r["Properties"] for r in AR.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
t.ok(len(tp) == 1 and any(s["Action"] == "sns:Publish" and {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
                          <= set(s["Principal"]["Service"]) for s in tp[0]["PolicyDocument"]["Statement"]),
     "the topic policy lets CloudWatch and EventBridge publish")
cw = {n: r["Properties"] for n, r in AR.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
t.ok(cw and all(p.get("AlarmActions") == [{"Ref": topic}] for p in cw.values()),
     "every alarm (%d) notifies the topic" % len(cw))


def watched(p):
    """(namespace, metric name, dimension names) an alarm reads, math included."""
    out = []
    stats = [m["MetricStat"]["Metric"] for m in p.get("Metrics", []) if "MetricStat" in m]
    if "MetricName" in p:
        stats.append(p)
    for m in stats:
        ns = m["Namespace"]
        ns = ns["Fn::Sub"] if isinstance(ns, dict) else ns
        out.append((ns, m["MetricName"], tuple(sorted(d["Name"] for d in m.get("Dimensions", [])))))
    return out


by_metric = {}
for n, p in cw.items():
    for w in watched(p):
        by_metric.setdefault(w[:2], []).append((n, w[2], p))
ELB = "AWS/ApplicationELB"
rate = [p for n, p in cw.items() if {w[1] for w in watched(p)} >= {"HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "RequestCount"}]
t.ok(len(rate) == 1 and any("/ requests" in m.get("Expression", "") and m.get("ReturnData") for m in rate[0]["Metrics"])
     and all(d == ("LoadBalancer",) for w in watched(rate[0]) for d in [w[2]]),
     "5xx rate: (ELB 5xx + target 5xx) / requests, per load balancer")
t.ok(any(d == ("LoadBalancer", "TargetGroup") and p["ComparisonOperator"].startswith("GreaterThan")
         for _, d, p in by_metric.get((ELB, "UnHealthyHostCount"), [])),
     "unhealthy hosts: UnHealthyHostCount of the target group")
for metric, what in (("EngineCPUUtilization", "CPU"), ("DatabaseMemoryUsagePercentage", "memory")):
    nodes = sorted(p["Dimensions"][0]["Value"]["Fn::Sub"] for _, d, p in by_metric.get(("AWS/ElastiCache", metric), [])
                   if d == ("CacheClusterId",))
    t.is_(nodes, ["${RedisReplicationGroupId}-001", "${RedisReplicationGroupId}-002"],
          "Redis %s: %s of nodes -001 and -002" % (what, metric))
t.ok(ap.get("LoadBalancerFullName") == {"Fn::GetAtt": ["LoadBalancer", "Outputs.LoadBalancerFullName"]}
     and ap.get("TargetGroupFullName") == {"Fn::GetAtt": ["LoadBalancer", "Outputs.TargetGroupFullName"]}
     and ap.get("RedisReplicationGroupId") == {"Fn::GetAtt": ["Redis", "Outputs.ReplicationGroupId"]}
     and lb["Outputs"]["LoadBalancerFullName"]["Value"] == {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]}
     and redis["Outputs"]["ReplicationGroupId"]["Value"] == {"Ref": "ReplicationGroup"},
     "the alarms get the ALB, target group and replication group of the stacks that made them")

# The write-behind metrics: oponn-writer's JSON line (its format string in
# fcgi/oponn-writer.c, rendered here; t/75 sees the real line) -> metric filter
# on the task's log group -> alarm.
writer_c = open(os.path.join(ROOT, "fcgi", "oponn-writer.c")).read()
fmt = re.search(r'"(\{\\"oponn_queue\\".*?)\\n"', writer_c)
line = json.loads(fmt.group(1).replace('\\"', '"').replace("%lld", "7")) if fmt else {}
filters = {r["Properties"]["MetricTransformations"][0]["MetricName"]: r["Properties"] for r in AR.values()
           if r["Type"] == "AWS::Logs::MetricFilter"}


def json_path(doc, path):
    for k in path.lstrip("$.").split("."):
        doc = doc[k]
    return doc


for metric, field in (("QueueLength", "length"), ("DeadLetters", "dead")):
    f = filters.get(metric, {})
    tr = f.get("MetricTransformations", [{}])[0]
    pat = re.fullmatch(r"\{ (\$\.[\w.]+) >= 0 \}", f.get("FilterPattern", ""))
    alarm = [(p, n) for n, d, p in by_metric.get((tr.get("MetricNamespace", {}).get("Fn::Sub"), metric), [])]
    t.ok(line and pat and json_path(line, pat.group(1)) == 7 and json_path(line, tr["MetricValue"]) == 7
         and tr["MetricValue"] == "$.oponn_queue.%s" % field and ref(f["LogGroupName"]) == "LogGroupName"
         and len(alarm) == 1,
         "%s: the writer's line {\"oponn_queue\":{\"%s\":N}} -> metric filter on the task log group -> alarm" % (metric, field),
         (line, f))
t.ok(ap.get("LogGroupName") == {"Fn::GetAtt": ["Service", "Outputs.LogGroup"]}
     and ref(service["Outputs"]["LogGroup"]["Value"]) == "LogGroup",
     "the metric filters read the service's log group")
qd = cw[[n for n, d, p in by_metric[("oponn/${EnvironmentName}", "DeadLetters")]][0]]
t.ok(qd["Threshold"] == 0 and qd["ComparisonOperator"] == "GreaterThanThreshold", "any dead letter alarms")

rules = [r["Properties"] for r in AR.values() if r["Type"] == "AWS::Events::Rule"]
ep = rules[0]["EventPattern"] if len(rules) == 1 else {}
t.ok(ep.get("source") == ["aws.codepipeline"] and ep.get("detail-type") == ["CodePipeline Pipeline Execution State Change"]
     and ep.get("detail", {}).get("state") == ["FAILED"] and ep["detail"].get("pipeline") == [{"Ref": "PipelineName"}]
     and [ref(x["Arn"]) for x in rules[0]["Targets"]] == [topic]
     and ap.get("PipelineName") == {"Fn::GetAtt": ["Pipeline", "Outputs.PipelineName"]},
     "pipeline failures: EventBridge rule on this pipeline's FAILED executions -> the topic")

# ---- 4. logs and state ------------------------------------------------------------------
lba = {a["Key"]: a["Value"] for a in lb["Resources"]["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]}
_, alp = nested("AccessLogs")
t.ok(lba.get("access_logs.s3.enabled") == "true" and ref(lba.get("access_logs.s3.bucket")) == "AccessLogBucket"
     and "access_logs.s3.prefix" not in lba
     and lbp.get("AccessLogBucket") == {"Fn::GetAtt": ["AccessLogs", "Outputs.BucketName"]}
     and ref(logs["Outputs"]["BucketName"]["Value"]) == "Bucket",
     "ALB access logs on, into the access-logs stack's bucket (no prefix: the policy's path)")
bucket = logs["Resources"]["Bucket"]["Properties"]
lc = bucket["LifecycleConfiguration"]["Rules"]
t.ok(any(r["Status"] == "Enabled" and ref(r.get("ExpirationInDays")) == "RetentionDays" for r in lc)
     and ref(alp.get("RetentionDays")) == "AccessLogRetentionDays",
     "the bucket has a lifecycle rule expiring logs after AccessLogRetentionDays")
t.is_(bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
      "AES256", "access-log bucket encrypted with SSE-S3 (the only kind ALB delivery supports)")
bp = logs["Resources"]["BucketPolicy"]["Properties"]
put = [s for s in bp["PolicyDocument"]["Statement"] if s["Effect"] == "Allow" and s["Action"] == "s3:PutObject"]
pr = put[0]["Principal"]["Fn::If"] if len(put) == 1 else [None, {}, {}]
mapping = logs["Mappings"]["ElbAccount"]
cond_regions = sorted(a[1] for path, a in cfn.walk(logs["Conditions"][pr[0]]) if isinstance(a, list) and len(a) == 2
                      and a[0] == {"Ref": "AWS::Region"})
t.ok(ref(bp["Bucket"]) == "Bucket" and put
     and put[0]["Resource"] == {"Fn::Sub": "${Bucket.Arn}/AWSLogs/${AWS::AccountId}/*"}
     and pr[2] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
     and "Fn::FindInMap" in json.dumps(pr[1]) and cond_regions == sorted(mapping)
     and all(re.fullmatch(r"\d{12}", v["Id"]) for v in mapping.values()) and len(mapping) >= 20,
     "bucket policy: the region's ELB account (%d older regions, same list in mapping and condition), "
     "else the log-delivery service principal, may put under AWSLogs/<account>/" % len(mapping))
cs = {c["Name"]: c["Value"] for c in T["cluster.yaml"]["Resources"]["Cluster"]["Properties"]["ClusterSettings"]}
t.is_(cs.get("containerInsights"), "enabled", "ECS cluster: Container Insights on")

STATEFUL = {"AWS::CloudFormation::Stack", "AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::CacheCluster",
            "AWS::Logs::LogGroup", "AWS::S3::Bucket", "AWS::SecretsManager::Secret", "AWS::ECR::Repository",
            "AWS::RDS::DBInstance", "AWS::DynamoDB::Table", "AWS::EFS::FileSystem"}
# Explicitly Delete, with the reason: rebuilt by the next pipeline run.
TRANSIENT = {("pipeline.yaml", "ArtifactBucket")}
found, bad = [], []
for f, tpl in T.items():
    for n, r in tpl.get("Resources", {}).items():
        if r["Type"] not in STATEFUL:
            continue
        found.append("%s:%s" % (f, n))
        keep = {"Retain", "Snapshot", "RetainExceptOnCreate"}
        want = {"Delete"} if (f, n) in TRANSIENT else keep
        if r.get("DeletionPolicy") not in want or r.get("UpdateReplacePolicy") not in want:
            bad.append((f, n, r.get("DeletionPolicy"), r.get("UpdateReplacePolicy")))
t.is_(bad, [], "DeletionPolicy and UpdateReplacePolicy Retain/Snapshot on every stateful resource (%d: %s)"
      % (len(found), ", ".join(found)))
t.ok(RR["ReplicationGroup"]["DeletionPolicy"] == RR["ReplicationGroup"]["UpdateReplacePolicy"] == "Snapshot"
     and sorted(r["Properties"]["TemplateURL"] for r in MR.values() if r["Type"] == "AWS::CloudFormation::Stack")
     == sorted(set(T) - {"master.yaml"}),
     "Redis (the write-behind queue) is snapshotted on delete and replacement; every other template is a "
     "nested stack of master (so retained, above)")

# Subnets: Fn::Select of Fn::Cidr of VpcCidr, evaluated here like CloudFormation.
net = T["network.yaml"]


def cidr_eval(node, vpc):
    if isinstance(node, dict) and "Fn::Select" in node:
        i, lst = node["Fn::Select"]
        return cidr_eval(lst, vpc)[int(i)]
    if isinstance(node, dict) and "Fn::Cidr" in node:
        block, count, bits = node["Fn::Cidr"]
        assert ref(block) == "VpcCidr", block
        sub = ipaddress.ip_network(vpc).subnets(new_prefix=32 - int(bits))
        return [str(s) for s in itertools.islice(sub, int(count))]
    raise ValueError("subnet CidrBlock is not derived from VpcCidr: %r" % (node,))


subnets = {n: r["Properties"]["CidrBlock"] for n, r in net["Resources"].items() if r["Type"] == "AWS::EC2::Subnet"}
vpc_pattern = net["Parameters"]["VpcCidr"]["AllowedPattern"]
problems = []
for vpc in ("10.180.0.0/16", "10.0.0.0/17", "172.31.64.0/18"):
    if not re.fullmatch(vpc_pattern, vpc):
        problems.append("%s refused by AllowedPattern" % vpc)
        continue
    try:
        nets = {n: ipaddress.ip_network(cidr_eval(c, vpc)) for n, c in subnets.items()}
    except (ValueError, IndexError, AssertionError) as e:
        problems.append("%s: %s" % (vpc, e))
        continue
    if not all(x.subnet_of(ipaddress.ip_network(vpc)) for x in nets.values()):
        problems.append("%s: a subnet outside the VPC" % vpc)
    if any(a.overlaps(b) for a, b in itertools.combinations(nets.values(), 2)):
        problems.append("%s: overlapping subnets %s" % (vpc, nets))
    if vpc == "10.180.0.0/16":
        got = sorted(str(x) for x in nets.values())
        if got != ["10.180.0.0/24", "10.180.1.0/24", "10.180.16.0/20", "10.180.32.0/20"]:
            problems.append("default VpcCidr gives %s" % got)
t.ok(len(subnets) == 4 and not problems,
     "subnets are !Select of !Cidr of VpcCidr: inside the VPC, disjoint, for a /16, /17 and /18 (default unchanged)",
     problems)
t.ok(not re.fullmatch(vpc_pattern, "10.0.0.0/20") and ref(nested("Network")[1]["VpcCidr"]) == "VpcCidr",
     "VpcCidr is passed to the network stack, and a VPC too small for the subnets is refused")

# ---- 5. AWS's cfn-lint (pip) ---------------------------------------------------------------
templates = sorted(os.path.join(INFRA, f) for f in T)
if not shutil.which("cfn-lint"):
    print("ok %d # SKIP AWS's cfn-lint (pip install cfn-lint) is not on PATH" % (t.n + 1))
    t.n += 1
else:
    r = subprocess.run(["cfn-lint", "--format", "parseable"] + templates, capture_output=True, text=True, timeout=300)
    t.ok(r.returncode == 0 and r.stdout.strip() == "",
         "AWS's cfn-lint: %d templates, no error and no warning" % len(templates), r.stdout + r.stderr)
    # It must be able to fail: an alarm comparison operator that does not exist.
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "alarms.yaml")
        with open(bad, "w") as f:
            f.write(open(os.path.join(INFRA, "alarms.yaml")).read().replace(
                "ComparisonOperator: GreaterThanOrEqualToThreshold", "ComparisonOperator: AtLeast", 1))
        r = subprocess.run(["cfn-lint", "--format", "parseable", bad], capture_output=True, text=True, timeout=300)
        t.ok(r.returncode != 0 and "AtLeast" in r.stdout, "AWS's cfn-lint rejects a bad ComparisonOperator", r.stdout)
t.done()
