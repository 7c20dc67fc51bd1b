"""Cluster definitions in EMR's own shapes: RunJobFlow's JSON in, a typed definition out.

    definition = parse_definition(json.load(open("cluster.json")))

takes what `aws emr create-cluster` and boto3's `emr.run_job_flow(**definition)`
take, the parts that mean something on one machine: `Name`, `Instances`
(`InstanceGroups[]` with `Name`, `InstanceRole`, `InstanceType`,
`InstanceCount`, `Market`; `KeepJobFlowAliveWhenNoSteps`,
`TerminationProtected`), `Steps[]`, `BootstrapActions[]`, `Configurations[]`
(hdfs-site, yarn-site, mapred-site, core-site, emrlab), `StepConcurrencyLevel`,
`AutoTerminationPolicy.IdleTimeout`. Fields EMR has that mean nothing here are
named in one warning; a wrong type is one clear error. The plain flags of
`emrlab cluster up` build the same shape (`definition_from_flags`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from emrlab.controller.instancetypes import instance_type
from emrlab.controller.records import (
    ActionOnFailure,
    BootstrapAction,
    GroupDefinition,
    ManagedScalingPolicy,
    Market,
    Role,
    StepDefinition,
)
from emrlab_common.config import parse_seconds
from emrlab_common.errors import InvalidArgument

DEFAULT_INSTANCE_TYPE = "m5.xlarge"
CLASSIFICATIONS = ("core-site", "hdfs-site", "yarn-site", "mapred-site", "emrlab")
# RunJobFlow fields that have no meaning on one machine: accepted, and named once.
IGNORED_FIELDS = {"ReleaseLabel", "Applications", "ServiceRole", "JobFlowRole", "LogUri", "LogEncryptionKmsKeyId",
                  "VisibleToAllUsers", "Tags", "SecurityConfiguration", "AutoScalingRole", "ScaleDownBehavior",
                  "EbsRootVolumeSize", "CustomAmiId", "OSReleaseLabel", "AmiVersion", "SupportedProducts",
                  "NewSupportedProducts", "AdditionalInfo", "KerberosAttributes", "RepoUpgradeOnBoot",
                  "PlacementGroupConfigs", "Ec2KeyName", "Ec2SubnetId", "Placement",
                  "EmrManagedMasterSecurityGroup", "EmrManagedSlaveSecurityGroup", "HadoopVersion",
                  "EbsConfiguration", "BidPrice", "AutoScalingPolicy"}


@dataclass(frozen=True)
class ClusterDefinition:
    name: str
    groups: tuple[GroupDefinition, ...]
    steps: tuple[StepDefinition, ...] = ()
    bootstrap_actions: tuple[BootstrapAction, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    keep_alive: bool = True
    termination_protected: bool = False
    step_concurrency_level: int = 1
    idle_timeout_s: float | None = None
    scaling: ManagedScalingPolicy | None = None
    warnings: tuple[str, ...] = ()


class _Reader:
    """Typed access to one JSON object, remembering which fields were used."""

    def __init__(self, value, where: str, warnings: list[str]):
        if not isinstance(value, dict):
            raise InvalidArgument(f"{where} must be a JSON object, not {type(value).__name__}")
        self.value, self.where, self.warnings, self.used = value, where, warnings, set()

    def get(self, key: str, kind, default=None, required: bool = False):
        self.used.add(key)
        if key not in self.value:
            if required:
                raise InvalidArgument(f"{self.where}.{key} is required")
            return default
        item = self.value[key]
        accepted = (int,) if kind is int else (int, float) if kind is float else (kind,)
        if kind in (int, float) and isinstance(item, bool) or not isinstance(item, accepted):
            raise InvalidArgument(f"{self.where}.{key} must be {_kind_name(kind)}, not {json.dumps(item)[:60]}")
        return item

    def finish(self) -> None:
        unknown = sorted(set(self.value) - self.used - IGNORED_FIELDS)
        ignored = sorted(set(self.value) & IGNORED_FIELDS)
        if unknown:
            self.warnings.append(f"unknown field(s) in {self.where}, ignored: {', '.join(unknown)}")
        if ignored:
            self.warnings.append(f"field(s) in {self.where} with no meaning here, ignored: {', '.join(ignored)}")


def _kind_name(kind) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
            dict: "an object"}[kind]


def _enum(enum_type, text: str, where: str):
    try:
        return enum_type(text)
    except ValueError:
        names = ", ".join(member.value for member in enum_type)
        raise InvalidArgument(f"{where} must be one of {names}, not {text!r}") from None


def load_definition_file(path_text: str) -> dict:
    """A JSON file given as PATH or file://PATH (as the aws CLI takes it)."""
    path = Path(path_text.removeprefix("file://")).expanduser()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise InvalidArgument(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"{path}: not valid JSON (not UTF-8 text)") from None
    except OSError as error:
        raise InvalidArgument(f"{path}: cannot be read ({error.strerror})") from None


def parse_definition(document: dict) -> ClusterDefinition:
    warnings: list[str] = []
    top = _Reader(document, "definition", warnings)
    name = top.get("Name", str, "emrlab cluster")
    instances = _Reader(top.get("Instances", dict, required=True), "Instances", warnings)
    groups = _parse_groups(instances, warnings)
    keep_alive = instances.get("KeepJobFlowAliveWhenNoSteps", bool, True)
    protected = instances.get("TerminationProtected", bool, False)
    instances.finish()
    steps = parse_steps(top.get("Steps", list, []), warnings)
    bootstrap = tuple(_parse_bootstrap(item, f"BootstrapActions[{index}]", warnings)
                      for index, item in enumerate(top.get("BootstrapActions", list, [])))
    properties = _parse_configurations(top.get("Configurations", list, []), warnings)
    concurrency = top.get("StepConcurrencyLevel", int, 1)
    if not 1 <= concurrency <= 256:
        raise InvalidArgument("StepConcurrencyLevel must be between 1 and 256")
    policy = top.get("AutoTerminationPolicy", dict)
    idle_timeout_s = None
    if policy is not None:
        reader = _Reader(policy, "AutoTerminationPolicy", warnings)
        idle_timeout_s = float(reader.get("IdleTimeout", float, required=True))
        reader.finish()
        if idle_timeout_s <= 0:
            raise InvalidArgument("AutoTerminationPolicy.IdleTimeout must be a positive number of seconds")
    scaling_document = top.get("ManagedScalingPolicy", dict)
    scaling = parse_scaling_policy(scaling_document, warnings) if scaling_document is not None else None
    top.finish()
    definition = ClusterDefinition(name, groups, steps, bootstrap, properties, keep_alive, protected, concurrency,
                                   idle_timeout_s, scaling, tuple(warnings))
    check_steps_allowed(definition.steps, concurrency)
    return definition


def _parse_groups(instances: _Reader, warnings: list[str]) -> tuple[GroupDefinition, ...]:
    items = instances.get("InstanceGroups", list)
    if items is None:
        # The uniform form: InstanceCount instances, one of them the master.
        count = instances.get("InstanceCount", int, 1)
        master_type = instances.get("MasterInstanceType", str, DEFAULT_INSTANCE_TYPE)
        core_type = instances.get("SlaveInstanceType", str, master_type)
        groups = [GroupDefinition("Master", Role.MASTER, _checked_type(master_type, "MasterInstanceType"), 1)]
        if count > 1:
            groups.append(GroupDefinition("Core", Role.CORE, _checked_type(core_type, "SlaveInstanceType"), count - 1))
        return _checked_groups(groups)
    groups = []
    for index, item in enumerate(items):
        where = f"Instances.InstanceGroups[{index}]"
        reader = _Reader(item, where, warnings)
        role = _enum(Role, reader.get("InstanceRole", str, required=True), f"{where}.InstanceRole")
        groups.append(GroupDefinition(
            reader.get("Name", str, role.value.title()), role,
            _checked_type(reader.get("InstanceType", str, DEFAULT_INSTANCE_TYPE), f"{where}.InstanceType"),
            reader.get("InstanceCount", int, required=True),
            _enum(Market, reader.get("Market", str, "ON_DEMAND"), f"{where}.Market")))
        reader.finish()
    return _checked_groups(groups)


def _checked_type(name: str, where: str) -> str:
    instance_type(name, where)
    return name


def _checked_groups(groups: list[GroupDefinition]) -> tuple[GroupDefinition, ...]:
    roles = [group.role for group in groups]
    if roles.count(Role.MASTER) != 1:
        raise InvalidArgument("a cluster needs exactly one MASTER instance group")
    task_markets = [group.market for group in groups if group.role is Role.TASK]
    if roles.count(Role.CORE) > 1 or len(task_markets) != len(set(task_markets)):
        raise InvalidArgument("a cluster has one CORE instance group here, and at most one TASK group per market "
                              "(one ON_DEMAND, one SPOT)")
    for group in groups:
        if group.role is Role.MASTER and group.count != 1:
            raise InvalidArgument("the MASTER instance group has exactly one instance (InstanceCount 1)")
        if group.count < (1 if group.role is Role.CORE else 0):
            raise InvalidArgument(f"{group.role.value} InstanceCount must be at least "
                                  f"{1 if group.role is Role.CORE else 0}, not {group.count}")
        if group.count > 64:
            raise InvalidArgument(f"{group.role.value} InstanceCount {group.count} is more than this machine can run (64)")
    if Role.CORE not in roles:
        raise InvalidArgument("a cluster needs a CORE instance group (it holds HDFS)")
    order = {Role.MASTER: 0, Role.CORE: 1, Role.TASK: 2}
    return tuple(sorted(groups, key=lambda group: order[group.role]))


def parse_steps(items: list, warnings: list[str]) -> tuple[StepDefinition, ...]:
    """The `Steps` list of RunJobFlow (also what `aws emr add-steps --steps file://…` takes)."""
    if not isinstance(items, list):
        raise InvalidArgument("Steps must be a list")
    steps = []
    for index, item in enumerate(items):
        where = f"Steps[{index}]"
        reader = _Reader(item, where, warnings)
        name = reader.get("Name", str, required=True)
        action = _enum(ActionOnFailure, reader.get("ActionOnFailure", str, "CONTINUE"), f"{where}.ActionOnFailure")
        jar = _Reader(reader.get("HadoopJarStep", dict, required=True), f"{where}.HadoopJarStep", warnings)
        jar_name = jar.get("Jar", str, required=True)
        args = jar.get("Args", list, [])
        if not all(isinstance(arg, str) for arg in args):
            raise InvalidArgument(f"{where}.HadoopJarStep.Args must be a list of strings")
        if jar_name.rsplit("/", 1)[-1] != "command-runner.jar":
            raise InvalidArgument(f"{where}.HadoopJarStep.Jar is {jar_name!r}: only command-runner.jar steps run here "
                                  "(give the command in Args, e.g. [\"hadoop-streaming\", \"-input\", ...])")
        if not args:
            raise InvalidArgument(f"{where}.HadoopJarStep.Args is empty: say what command-runner.jar should run")
        jar.get("Properties", list)
        jar.get("MainClass", str)
        jar.finish()
        reader.finish()
        steps.append(StepDefinition(name, tuple(args), action))
    return tuple(steps)


def parse_scaling_policy(document: dict, warnings: list[str]) -> ManagedScalingPolicy:
    """EMR's ManagedScalingPolicy: {"ComputeLimits": {"UnitType": "Instances", "MinimumCapacityUnits": ...}}."""
    policy = _Reader(document, "ManagedScalingPolicy", warnings)
    limits = _Reader(policy.get("ComputeLimits", dict, required=True), "ManagedScalingPolicy.ComputeLimits", warnings)
    unit_type = limits.get("UnitType", str, "Instances")
    if unit_type != "Instances":
        raise InvalidArgument(f"ManagedScalingPolicy.ComputeLimits.UnitType {unit_type!r}: only Instances here "
                              "(InstanceFleetUnits and VCPU need instance fleets)")
    result = ManagedScalingPolicy(limits.get("MinimumCapacityUnits", int, required=True),
                                  limits.get("MaximumCapacityUnits", int, required=True),
                                  limits.get("MaximumOnDemandCapacityUnits", int),
                                  limits.get("MaximumCoreCapacityUnits", int))
    limits.finish()
    policy.finish()
    if not 1 <= result.minimum_units <= result.maximum_units:
        raise InvalidArgument("ManagedScalingPolicy: MinimumCapacityUnits must be at least 1 and at most "
                              "MaximumCapacityUnits")
    return result


def with_lab_timing(policy: ManagedScalingPolicy | None, properties: dict[str, str]) -> ManagedScalingPolicy | None:
    """emrlab's own scaling keys (how often, how long idle, how long a decommission may wait) on top of EMR's."""
    if policy is None:
        return None
    return dataclasses.replace(
        policy,
        cooldown_s=parse_seconds(properties.get("emrlab.scaling.cooldown", "10s")),
        idle_before_scale_down_s=parse_seconds(properties.get("emrlab.scaling.idle-before-scale-down", "20s")),
        decommission_timeout_s=parse_seconds(properties.get("emrlab.scaling.decommission-timeout", "3600s")))


def check_steps_allowed(steps, concurrency: int) -> None:
    if concurrency > 1:
        for step in steps:
            if step.action_on_failure is not ActionOnFailure.CONTINUE:
                raise InvalidArgument(f"step {step.name!r}: ActionOnFailure {step.action_on_failure.value} is not "
                                      f"valid when StepConcurrencyLevel is {concurrency} (only CONTINUE)")


def _parse_bootstrap(item, where: str, warnings: list[str]) -> BootstrapAction:
    reader = _Reader(item, where, warnings)
    name = reader.get("Name", str, "bootstrap action")
    script = _Reader(reader.get("ScriptBootstrapAction", dict, required=True), f"{where}.ScriptBootstrapAction",
                     warnings)
    path = script.get("Path", str, required=True)
    args = script.get("Args", list, [])
    script.finish()
    reader.finish()
    return BootstrapAction(name, bootstrap_path(path, where), tuple(str(arg) for arg in args))


def bootstrap_path(text: str, where: str = "--bootstrap-action") -> str:
    """A local script (PATH or file://PATH), made absolute; EMR's s3:// cannot be reached here."""
    if "://" in text and not text.startswith("file://"):
        raise InvalidArgument(f"{where}: {text} cannot be reached from this machine; use a local path or file://PATH")
    path = Path(text.removeprefix("file://")).expanduser().absolute()
    if not path.is_file():
        raise InvalidArgument(f"{where}: {path}: no such file")
    return str(path)


def _parse_configurations(items: list, warnings: list[str]) -> dict[str, str]:
    properties: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"Configurations[{index}]"
        reader = _Reader(item, where, warnings)
        classification = reader.get("Classification", str, required=True)
        values = reader.get("Properties", dict, {})
        if reader.get("Configurations", list):
            warnings.append(f"{where}.Configurations (nested) ignored")
        reader.finish()
        if classification not in CLASSIFICATIONS:
            warnings.append(f"{where}: classification {classification!r} has no meaning here, ignored "
                            f"(known: {', '.join(CLASSIFICATIONS)})")
            continue
        for key, value in values.items():
            if not isinstance(value, (str, int, float, bool)):
                raise InvalidArgument(f"{where}.Properties.{key} must be a string")
            properties[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return properties


def definition_from_flags(*, name: str, core: int, task: int, instance_type_name: str, task_market: str = "ON_DEMAND",
                          steps=(), bootstrap_paths=(), properties=None, keep_alive: bool = True,
                          termination_protected: bool = False, step_concurrency_level: int = 1,
                          idle_timeout_s: float | None = None) -> ClusterDefinition:
    """What the plain flags of `cluster up` mean, as the same definition a JSON file gives."""
    _checked_type(instance_type_name, "--instance-type")
    groups = [GroupDefinition("Master", Role.MASTER, instance_type_name, 1),
              GroupDefinition("Core", Role.CORE, instance_type_name, core)]
    # A task group even of 0 instances, so `resize --group task` and managed scaling have one to grow.
    groups.append(GroupDefinition("Task", Role.TASK, instance_type_name, task,
                                  _enum(Market, task_market.upper(), "--task-market")))
    bootstrap = tuple(BootstrapAction(f"bootstrap {index + 1}", bootstrap_path(path))
                      for index, path in enumerate(bootstrap_paths))
    definition = ClusterDefinition(name, _checked_groups(groups), tuple(steps), bootstrap, dict(properties or {}),
                                   keep_alive, termination_protected, step_concurrency_level, idle_timeout_s)
    check_steps_allowed(definition.steps, step_concurrency_level)
    return definition


def to_document(definition: ClusterDefinition) -> dict:
    """The definition back in RunJobFlow's shape (kept in the cluster directory for a student to read)."""
    document = {
        "Name": definition.name,
        "Instances": {
            "InstanceGroups": [{"Name": group.name, "InstanceRole": group.role.value, "InstanceType": group.instance_type,
                                "InstanceCount": group.count, "Market": group.market.value}
                               for group in definition.groups],
            "KeepJobFlowAliveWhenNoSteps": definition.keep_alive,
            "TerminationProtected": definition.termination_protected,
        },
        "Steps": [step_document(step) for step in definition.steps],
        "BootstrapActions": [{"Name": action.name, "ScriptBootstrapAction": {"Path": action.path,
                                                                               "Args": list(action.args)}}
                             for action in definition.bootstrap_actions],
        "Configurations": [{"Classification": "emrlab", "Properties": dict(definition.properties)}]
        if definition.properties else [],
        "StepConcurrencyLevel": definition.step_concurrency_level,
    }
    if definition.idle_timeout_s is not None:
        document["AutoTerminationPolicy"] = {"IdleTimeout": definition.idle_timeout_s}
    if definition.scaling is not None:
        document["ManagedScalingPolicy"] = scaling_document(definition.scaling)
    return document


def scaling_document(policy: ManagedScalingPolicy) -> dict:
    limits = {"UnitType": "Instances", "MinimumCapacityUnits": policy.minimum_units,
              "MaximumCapacityUnits": policy.maximum_units}
    if policy.maximum_on_demand_units is not None:
        limits["MaximumOnDemandCapacityUnits"] = policy.maximum_on_demand_units
    if policy.maximum_core_units is not None:
        limits["MaximumCoreCapacityUnits"] = policy.maximum_core_units
    return {"ComputeLimits": limits}


def step_document(step: StepDefinition) -> dict:
    return {"Name": step.name, "ActionOnFailure": step.action_on_failure.value,
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": list(step.args)}}
