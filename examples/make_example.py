#!/usr/bin/env python3
"""Generate the quick-start demo: examples/taskdefs/*.json and examples/AWSLogs/... (gzip).

Deterministic (fixed seed and dates, gzip mtime=0, no clock, no network), stdlib only:

    python3 examples/make_example.py

Account 123456789012, us-east-1, one day (2026-11-20). Three ECS families share one
execution role; see examples/README.md.
"""
from __future__ import annotations

import gzip
import io
import json
import random
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(20261120)

ACCT = "123456789012"
REGION = "us-east-1"
ECR = f"{ACCT}.dkr.ecr.{REGION}.amazonaws.com"
DAY = (2026, 11, 20)

EXEC = ("ecsTaskExecutionRole", "/")
WEB = ("web-frontend-task", "/")
THUMB = ("thumbnailer-task", "/")
EXPORT = ("nightly-export-task", "/")
SLR = ("AWSServiceRoleForECS", "/aws-service-role/ecs.amazonaws.com/")

Q_JOBS = f"https://sqs.{REGION}.amazonaws.com/{ACCT}/thumbnail-jobs"
KEY_WEB = f"arn:aws:kms:{REGION}:{ACCT}:key/7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
KEY_AWS_SSM = f"arn:aws:kms:{REGION}:{ACCT}:key/2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"
SECRET_SESSION = f"arn:aws:secretsmanager:{REGION}:{ACCT}:secret:web-frontend/session-key-Lm4Np7"

NAT_IP = "44.210.37.152"
UA_NODE = "aws-sdk-js/3.682.0 ua/2.1 os/linux#5.10.227-219.884.amzn2.x86_64 lang/js md/nodejs#20.18.0 api/{api}#3.682.0"
UA_PY = ("Boto3/1.35.54 md/Botocore#1.35.54 ua/2.0 os/linux#5.10.227-219.884.amzn2.x86_64 md/arch#x86_64 "
         "lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_ECS_FARGATE cfg/retry-mode#standard Botocore/1.35.54")
UA_GO = "aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#arm64 api/{api}#1.0.0"
UA_AWSLOGS = "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64)"
UA_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def uid() -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def hexs(n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def upper(n: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))


def mixed(n: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(*DAY, hh, mm, ss, tzinfo=timezone.utc)


def role_arn(role) -> str:
    return f"arn:aws:iam::{ACCT}:role{role[1]}{role[0]}"


ROLE_IDS = {r[0]: "AROA" + upper(17) for r in (EXEC, WEB, THUMB, EXPORT, SLR)}


class Session:
    def __init__(self, role, name: str, created: datetime):
        self.role, self.name, self.created = role, name, created
        self.akid = "ASIA" + upper(16)

    def ident(self, invoked_by: str | None = None) -> dict:
        rid = ROLE_IDS[self.role[0]]
        d = {"type": "AssumedRole", "principalId": f"{rid}:{self.name}",
             "arn": f"arn:aws:sts::{ACCT}:assumed-role/{self.role[0]}/{self.name}",
             "accountId": ACCT, "accessKeyId": self.akid,
             "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": rid, "arn": role_arn(self.role),
                                                  "accountId": ACCT, "userName": self.role[0]},
                                "attributes": {"creationDate": ts(self.created), "mfaAuthenticated": "false"}}}
        if invoked_by:
            d["invokedBy"] = invoked_by
        return d


EVENTS: list[dict] = []


def emit(t, source, name, ident, *, ip, ua, req=None, resp=None, resources=None, read_only=True,
         category="Management", error=None, additional=None, event_type="AwsApiCall", request_id=None,
         version="1.09", shared=None):
    ev = {"eventVersion": version, "userIdentity": ident, "eventTime": ts(t), "eventSource": source,
          "eventName": name, "awsRegion": REGION, "sourceIPAddress": ip, "userAgent": ua}
    if error:
        ev["errorCode"], ev["errorMessage"] = error
    ev["requestParameters"] = req
    ev["responseElements"] = resp
    if additional is not None:
        ev["additionalEventData"] = additional
    ev["requestID"] = request_id or uid()
    ev["eventID"] = uid()
    if read_only is not None:
        ev["readOnly"] = read_only
    if resources is not None:
        ev["resources"] = resources
    ev["eventType"] = event_type
    ev["managementEvent"] = category == "Management"
    ev["recipientAccountId"] = ACCT
    if shared:
        ev["sharedEventID"] = shared
    ev["eventCategory"] = category
    if not ip.endswith("amazonaws.com") and ip != "AWS Internal" and event_type == "AwsApiCall":
        ev["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                            "clientProvidedHostHeader": f"{source.split('.')[0]}.{REGION}.amazonaws.com"}
    EVENTS.append(ev)
    return ev


def kms_via(sess, t, service, key, ctx):
    emit(t, "kms.amazonaws.com", "Decrypt", sess.ident(invoked_by=service), ip=service, ua=service,
         req={"encryptionContext": ctx, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
         resources=[{"accountId": ACCT, "type": "AWS::KMS::Key", "ARN": key}])


def s3obj(sess, t, op, bucket, key, ua, *, error=None, size=0):
    emit(t, "s3.amazonaws.com", op, sess.ident(), ip=NAT_IP, ua=f"[{ua}]",
         req={"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com", "key": key},
         additional={"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                     "bytesTransferredIn": size if op == "PutObject" else 0, "AuthenticationMethod": "AuthHeader",
                     "x-amz-id-2": mixed(76) + "=", "bytesTransferredOut": size if op == "GetObject" else 0},
         resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                    {"accountId": ACCT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
         read_only=op == "GetObject", category="Data", error=error,
         request_id="".join(rng.choice("0123456789ABCDEF") for _ in range(16)))


def sqs(sess, t, op, ua):
    req = {"queueUrl": Q_JOBS}
    resp = None
    if op == "SendMessage":
        req["messageBody"] = "HIDDEN_DUE_TO_SECURITY_REASONS"
        resp = {"mD5OfMessageBody": hexs(32), "messageId": uid()}
    elif op == "ReceiveMessage":
        req.update({"maxNumberOfMessages": 5, "waitTimeSeconds": 20})
    else:
        req["receiptHandle"] = "HIDDEN_DUE_TO_SECURITY_REASONS"
    emit(t, "sqs.amazonaws.com", op, sess.ident(), ip=NAT_IP, ua=ua, req=req, resp=resp,
         resources=[{"accountId": ACCT, "type": "AWS::SQS::Queue",
                     "ARN": f"arn:aws:sqs:{REGION}:{ACCT}:thumbnail-jobs"}],
         read_only=op == "ReceiveMessage", category="Data")


# --------------------------------------------------------------------------
def container(name, image, family, secrets=None, port=None):
    c = {"name": name, "image": image, "essential": True,
         "portMappings": [{"containerPort": port, "protocol": "tcp"}] if port else [],
         "environment": [], "logConfiguration": {"logDriver": "awslogs", "options": {
             "awslogs-group": f"/ecs/{family}", "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"}}}
    if secrets:
        c["secrets"] = secrets
    return c


FAMILIES = {}


def write_taskdefs():
    out = HERE / "taskdefs"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    web_c = [container("web", f"{ECR}/web-frontend:3.8.1", "web-frontend", port=3000,
                       secrets=[{"name": "SESSION_KEY", "valueFrom": SECRET_SESSION}])]
    thumb_c = [container("thumbnailer", f"{ECR}/thumbnailer:1.4.0", "thumbnailer")]
    export_c = [container("export", f"{ECR}/nightly-export:2026.11.1", "nightly-export",
                          secrets=[{"name": "WAREHOUSE_TOKEN",
                                    "valueFrom": f"arn:aws:ssm:{REGION}:{ACCT}:parameter/nightly-export/warehouse-token"}])]
    web = {"taskDefinition": {
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCT}:task-definition/web-frontend:42",
        "containerDefinitions": web_c, "family": "web-frontend", "taskRoleArn": role_arn(WEB),
        "executionRoleArn": role_arn(EXEC), "networkMode": "awsvpc", "revision": 42, "status": "ACTIVE",
        "requiresCompatibilities": ["FARGATE"], "cpu": "512", "memory": "1024"}, "tags": []}
    thumb = {"family": "thumbnailer", "taskRoleArn": role_arn(THUMB), "executionRoleArn": role_arn(EXEC),
             "networkMode": "awsvpc", "containerDefinitions": thumb_c, "requiresCompatibilities": ["FARGATE"],
             "cpu": "1024", "memory": "2048"}
    export = {"family": "nightly-export", "taskRoleArn": role_arn(EXPORT), "executionRoleArn": role_arn(EXEC),
              "networkMode": "awsvpc", "containerDefinitions": export_c, "requiresCompatibilities": ["FARGATE"],
              "cpu": "256", "memory": "512"}
    for n, d in (("web-frontend.json", web), ("thumbnailer.json", thumb), ("nightly-export.json", export)):
        (out / n).write_text(json.dumps(d, indent=2) + "\n")
    FAMILIES.update({"web-frontend": (WEB, web_c), "thumbnailer": (THUMB, thumb_c),
                     "nightly-export": (EXPORT, export_c)})


def start_task(family, t):
    task_role, containers = FAMILIES[family]
    tid = hexs(32)
    for r in (EXEC, task_role):
        emit(t, "sts.amazonaws.com", "AssumeRole", {"type": "AWSService", "invokedBy": "ecs-tasks.amazonaws.com"},
             ip="ecs-tasks.amazonaws.com", ua="ecs-tasks.amazonaws.com",
             req={"roleArn": role_arn(r), "roleSessionName": tid},
             resp={"credentials": {"accessKeyId": "ASIA" + upper(16), "sessionToken": mixed(100),
                                   "expiration": "Nov 20, 2026, 11:59:59 PM"}},
             resources=[{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": role_arn(r)}], shared=uid(),
             version="1.08")
    ex = Session(EXEC, tid, t)
    svc = "ecs-tasks.amazonaws.com"
    c0 = containers[0]
    cur = t + timedelta(seconds=2)
    for s in c0.get("secrets", []):
        v = s["valueFrom"]
        if ":secretsmanager:" in v:
            emit(cur, "secretsmanager.amazonaws.com", "GetSecretValue", ex.ident(svc), ip=svc, ua=svc,
                 req={"secretId": v})
            kms_via(ex, cur, "secretsmanager.amazonaws.com", KEY_WEB, {"SecretARN": v, "SecretVersionId": uid()})
        else:
            emit(cur, "ssm.amazonaws.com", "GetParameters", ex.ident(svc), ip=svc, ua=svc,
                 req={"names": [v], "withDecryption": True})
            kms_via(ex, cur, "ssm.amazonaws.com", KEY_AWS_SSM, {"PARAMETER_ARN": v})
    cur += timedelta(seconds=1)
    emit(cur, "ecr.amazonaws.com", "GetAuthorizationToken", ex.ident(svc), ip=svc, ua=svc,
         req={"registryIds": [ACCT]}, version="1.08")
    repo, tag = c0["image"][len(ECR) + 1:].split(":")
    res = [{"accountId": ACCT, "ARN": f"arn:aws:ecr:{REGION}:{ACCT}:repository/{repo}"}]
    emit(cur, "ecr.amazonaws.com", "BatchGetImage", ex.ident(svc), ip="AWS Internal", ua="AWS Internal",
         req={"imageIds": [{"imageTag": tag}], "repositoryName": repo, "registryId": ACCT,
              "acceptedMediaTypes": ["application/vnd.docker.distribution.manifest.v2+json",
                                     "application/vnd.oci.image.manifest.v1+json"]},
         resources=res, version="1.08")
    for _ in range(3):
        cur += timedelta(seconds=1)
        emit(cur, "ecr.amazonaws.com", "GetDownloadUrlForLayer", ex.ident(svc), ip="AWS Internal",
             ua="AWS Internal", req={"repositoryName": repo, "registryId": ACCT, "layerDigest": "sha256:" + hexs(64)},
             resources=res, version="1.08")
    cur += timedelta(seconds=3)
    emit(cur, "logs.amazonaws.com", "CreateLogStream", ex.ident(), ip="3.215.88.14", ua=UA_AWSLOGS,
         req={"logGroupName": f"/ecs/{family}", "logStreamName": f"ecs/{c0['name']}/{tid}"}, read_only=False)
    return Session(task_role, tid, t + timedelta(seconds=1))


def scenario():
    # nightly export at 02:00
    tk = start_task("nightly-export", at(2, 0, 3))
    t = at(2, 0, 40)
    ua = UA_GO.format(api="dynamodb")
    for page in range(4):
        emit(t + timedelta(seconds=page * 6), "dynamodb.amazonaws.com", "Scan", tk.ident(), ip=NAT_IP, ua=ua,
             req={"tableName": "user-sessions", "limit": 1000, "exclusiveStartKey": "HIDDEN_DUE_TO_SECURITY_REASONS"}
             if page else {"tableName": "user-sessions", "limit": 1000},
             resources=[{"accountId": ACCT, "type": "AWS::DynamoDB::Table",
                         "ARN": f"arn:aws:dynamodb:{REGION}:{ACCT}:table/user-sessions"}], category="Data",
             request_id=upper(52))
    for part in range(3):
        s3obj(tk, at(2, 1, 10 + part), "PutObject", "acme-exports", f"sessions/2026-11-20/part-{part:04d}.parquet",
              UA_GO.format(api="s3"), size=rng.randint(1_000_000, 9_000_000))

    # web-frontend and thumbnailer during the morning
    web = start_task("web-frontend", at(9, 0, 5))
    ua = UA_NODE.format(api="ssm")
    emit(at(9, 0, 30), "ssm.amazonaws.com", "GetParametersByPath", web.ident(), ip=NAT_IP, ua=ua,
         req={"path": "/web-frontend/prod", "recursive": True, "withDecryption": True})
    for p in ("/web-frontend/prod/api-base-url", "/web-frontend/prod/feature-flags"):
        kms_via(web, at(9, 0, 30), "ssm.amazonaws.com", KEY_WEB,
                {"PARAMETER_ARN": f"arn:aws:ssm:{REGION}:{ACCT}:parameter{p}"})
    thumb = start_task("thumbnailer", at(9, 1, 0))
    uploads = [f"incoming/{hexs(8)}/{n}" for n in ("photo.jpg", "banner.png", "avatar.webp", "scan.jpg",
                                                    "cover.jpg", "logo.png", "team.jpg", "poster.png",
                                                    "menu.jpg", "hero.webp", "badge.png", "map.jpg")]
    t = at(9, 5, 0)
    for i, key in enumerate(uploads):
        t += timedelta(seconds=rng.randint(40, 200))
        s3obj(web, t, "PutObject", "acme-media", key, UA_NODE.format(api="s3"), size=rng.randint(80_000, 4_000_000))
        sqs(web, t + timedelta(seconds=1), "SendMessage", UA_NODE.format(api="sqs"))
        sqs(thumb, t + timedelta(seconds=2), "ReceiveMessage", UA_PY)
        s3obj(thumb, t + timedelta(seconds=3), "GetObject", "acme-media", key, UA_PY, size=rng.randint(80_000, 4_000_000))
        thumb_key = key.replace("incoming/", "thumbs/").rsplit(".", 1)[0] + "-256.webp"
        s3obj(thumb, t + timedelta(seconds=6), "PutObject", "acme-media", thumb_key, UA_PY, size=rng.randint(8_000, 40_000))
        sqs(thumb, t + timedelta(seconds=7), "DeleteMessage", UA_PY)
        if i == 3:
            # the one failed call: the thumbnailer tries to clean up the original
            s3obj(thumb, t + timedelta(seconds=8), "DeleteObject", "acme-media", key, UA_PY,
                  error=("AccessDenied", "Access Denied"))

    # noise: console user, ECS service-linked role, a service event
    user = {"type": "IAMUser", "principalId": "AIDA" + upper(17), "arn": f"arn:aws:iam::{ACCT}:user/dana",
            "accountId": ACCT, "accessKeyId": "ASIA" + upper(16), "userName": "dana",
            "sessionContext": {"sessionIssuer": {}, "webIdFederationData": {},
                               "attributes": {"creationDate": "2026-11-20T08:40:12Z", "mfaAuthenticated": "true"}}}
    emit(at(8, 40, 12), "signin.amazonaws.com", "ConsoleLogin",
         {k: user[k] for k in ("type", "principalId", "arn", "accountId", "userName")},
         ip="198.51.100.14", ua=UA_BROWSER, resp={"ConsoleLogin": "Success"},
         additional={"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No",
                     "MFAUsed": "Yes"}, read_only=None, event_type="AwsConsoleSignIn", version="1.08")
    for i, (name, req) in enumerate([("ListClusters", {}), ("DescribeServices", {"cluster": "prod",
                                     "services": ["web-frontend", "thumbnailer"]}),
                                     ("ListTaskDefinitions", {"familyPrefix": "web-frontend"}),
                                     ("DescribeTaskDefinition", {"taskDefinition": "web-frontend:42"})]):
        emit(at(8, 41, 5 + 9 * i), "ecs.amazonaws.com", name, user, ip="198.51.100.14", ua="AWS Internal",
             req=req or None)
    slr = Session(SLR, "ecs-service-scheduler", at(8, 59, 0))
    for i, t0 in enumerate((at(9, 0, 1), at(9, 0, 58))):
        emit(t0, "ec2.amazonaws.com", "CreateNetworkInterface", slr.ident("ecs.amazonaws.com"),
             ip="ecs.amazonaws.com", ua="ecs.amazonaws.com",
             req={"subnetId": "subnet-0c1d2e3f4a5b6c7d8", "groupSet": {"items": [{"groupId": "sg-0a9b8c7d6e5f40312"}]},
                  "description": f"arn:aws:ecs:{REGION}:{ACCT}:attachment/{uid()}"},
             resp={"networkInterface": {"networkInterfaceId": "eni-0" + hexs(16), "status": "pending"}},
             read_only=False, version="1.08")
    emit(at(9, 30, 0), "kms.amazonaws.com", "RotateKey", {"accountId": ACCT, "invokedBy": "AWS Internal"},
         ip="AWS Internal", ua="AWS Internal", resources=[{"accountId": ACCT, "type": "AWS::KMS::Key", "ARN": KEY_WEB}],
         read_only=False, event_type="AwsServiceEvent", version="1.08")


def write_logs():
    out = HERE / "AWSLogs"
    if out.exists():
        shutil.rmtree(out)
    d = out / ACCT / "CloudTrail" / REGION / "2026" / "11" / "20"
    d.mkdir(parents=True)
    # four delivery files: night, early morning, two during the busy morning
    bounds = [(at(0, 0), at(8, 0), "0205Z"), (at(8, 0), at(9, 0), "0900Z"),
              (at(9, 0), at(9, 20), "0920Z"), (at(9, 20), at(23, 59), None)]
    total = 0
    for lo, hi, stamp in bounds:
        evs = [e for e in EVENTS if ts(lo) <= e["eventTime"] < ts(hi)]
        if not evs:
            continue
        if stamp is None:
            last = max(e["eventTime"] for e in evs)
            hh, mm = int(last[11:13]), int(last[14:16])
            mm = (mm // 5 + 1) * 5
            hh, mm = hh + mm // 60, mm % 60
            stamp = f"{hh:02d}{mm:02d}Z"
        rng.shuffle(evs)
        name = f"{ACCT}_CloudTrail_{REGION}_20261120T{stamp}_{mixed(16)}.json.gz"
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
            gz.write(json.dumps({"Records": evs}, separators=(",", ":")).encode())
        (d / name).write_bytes(buf.getvalue())
        total += len(evs)
        print(f"  {len(evs):4d}  {(d / name).relative_to(HERE)}")
    assert total == len(EVENTS), (total, len(EVENTS))
    print(f"{total} events")


if __name__ == "__main__":
    write_taskdefs()
    scenario()
    write_logs()
