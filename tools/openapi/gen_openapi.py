#!/usr/bin/env python3
"""Generates internal/httpapi/openapi.json (OpenAPI 3.0.3) for arkserve."""
import json
import os
import sys

EXT = "x-arkserve-extension"


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def s(desc=None, **kw):
    d = {"type": "string"}
    d.update(kw)
    if desc:
        d["description"] = desc
    return d


def i(desc=None, fmt="int64", **kw):
    d = {"type": "integer"}
    if fmt:
        d["format"] = fmt
    d.update(kw)
    if desc:
        d["description"] = desc
    return d


def i32(desc=None, **kw):
    return i(desc, fmt="int32", **kw)


def n(desc=None, **kw):
    d = {"type": "number", "format": "double"}
    d.update(kw)
    if desc:
        d["description"] = desc
    return d


def b(desc=None, **kw):
    d = {"type": "boolean"}
    d.update(kw)
    if desc:
        d["description"] = desc
    return d


def arr(items, desc=None, **kw):
    d = {"type": "array", "items": items}
    d.update(kw)
    if desc:
        d["description"] = desc
    return d


def mapof(values, desc=None):
    d = {"type": "object", "additionalProperties": values}
    if desc:
        d["description"] = desc
    return d


def obj(props, required=(), desc=None, closed=True, **kw):
    d = {"type": "object"}
    if desc:
        d["description"] = desc
    if required:
        missing = [r for r in required if r not in props]
        assert not missing, missing
        d["required"] = list(required)
    d["properties"] = props
    if closed:
        d["additionalProperties"] = False
    d.update(kw)
    return d


def ext(d, desc):
    """Marks a schema/parameter/operation as an arkserve extension."""
    d = dict(d)
    d[EXT] = True
    if desc:
        d["description"] = (d.get("description", "") + " " if d.get("description") else "") + desc
    return d


def with_desc(d, desc):
    d = dict(d)
    d["description"] = desc
    return d


MILLIS = "Epoch milliseconds (UTC)."
PAGE_OFFSET_DESC = ("Row offset of the first item, default 0. The reference calls it a start page; "
                    "arkserve treats it as a row offset, as existing clients send it.")

SERVICE_STATUS = ["running", "deploying", "concerning", "failed", "stopped", "finished", "stopping",
                  "deleting", "pending", "waiting"]
INFER_TYPES = ["real-time", "batch", "edge"]
MODEL_STATUS = ["publishing", "published", "failed", "building", "building_failed"]
MODEL_TYPES = ["TensorFlow", "PyTorch", "MindSpore", "Image", "Custom", "Template"]

schemas = {}

# --- errors -------------------------------------------------------------------------------------
schemas["ErrorBody"] = obj({
    "error_code": s("ModelArts error code. Codes 0404, 0405, 0413, 0415, 0213, 0215, 0216, 0502, 0503 and 0504 are "
                    "arkserve's own (no such API, method not allowed, body too large, not JSON, wrong password, "
                    "no such edge node, no such node credential; "
                    "inference: instance unreachable, no ready instance, instance timeout).",
                    pattern=r"^ModelArts\.[0-9]{4}$", example="ModelArts.3502"),
    "error_msg": s("Error message.", example="Service 195c1f2d-136d-40af-a0f3-db5717d2634a does not exist."),
}, ["error_code", "error_msg"], "The error body of every failed request.")

schemas["EmptyObject"] = obj({}, desc="An empty JSON object ({}).", maxProperties=0)

# --- shared service structures --------------------------------------------------------------------
schemas["Schedule"] = obj({
    "duration": i32("Run time before the action, in time_unit.", minimum=1),
    "time_unit": s("Unit of duration.", enum=["DAYS", "HOURS", "MINUTES"]),
    "type": s("Action when the time is up; only stop.", enum=["stop"]),
}, ["duration", "time_unit", "type"], "Auto-stop schedule.")

schemas["CustomSpec"] = obj({
    "gpu_p4": n("Number of GPUs (may be a decimal, >= 0).", minimum=0),
    "memory": i32("Memory in MB."),
    "cpu": n("Number of CPU cores (may be a decimal, >= 0.01)."),
}, ["memory", "cpu"], "Custom resource specification (specification custom).")

schemas["LogVolume"] = obj({
    "host_path": s("Log path on the host."),
    "mount_path": s("Log path in the container."),
}, ["host_path", "mount_path"], "Host directory mounted into an instance.")

schemas["PersistentVolume"] = obj({
    "name": s("Volume name."),
    "mount_path": s("Mount path in the container (not a system directory such as / or /var/run)."),
    "storage_type": s("Mount type.", enum=["sfs_turbo"]),
    "source_address": s("SFS Turbo ID."),
}, ["mount_path"], "Persistent storage mount.")

schemas["ModelAdditionalProperties"] = obj({
    "log_volume": arr(ref("LogVolume"), "Host directories to mount (dedicated pool only)."),
    "max_surge": n("Instances added during a rolling upgrade: below 1 a fraction, otherwise a count. Default 1."),
    "max_unavailable": n("Instances that may be unavailable during a rolling upgrade: below 1 a fraction, otherwise a count. Default 0."),
    "termination_grace_period_seconds": i32("Graceful stop period of a container, in seconds."),
    "persistent_volumes": arr(ref("PersistentVolume"), "Persistent storage mounts."),
}, desc="Additional properties of a model deployment.")

schemas["AffinityNode"] = obj({"name": s("Node private IP address.")}, ["name"], "A node of a dedicated pool.")
schemas["AffinityPoolInfo"] = obj({
    "pool_name": s("Pool name; must be the outer pool_name."),
    "nodes": arr(ref("AffinityNode"), "Nodes of the pool."),
}, ["pool_name", "nodes"], "Nodes of one pool.")
schemas["NodeAffinity"] = obj({
    "mode": s("Affinity mode.", enum=["required", "preferred"]),
    "pool_infos": arr(ref("AffinityPoolInfo"), "Pools and their nodes."),
}, ["mode"], "Node affinity.")
schemas["ServiceAffinity"] = obj({"node_affinity": ref("NodeAffinity")}, desc="Service affinity.")

schemas["SmnNotification"] = obj({
    "topic_urn": s("SMN topic URN."),
    "events": arr(i32(enum=[1, 3, 7, 11]), "Events: 1 failed, 3 running, 7 concerning, 11 pending."),
}, ["topic_urn", "events"], "SMN notification.")
schemas["LogReportConfiguration"] = obj({
    "log_group_id": s("LTS log group ID.", maxLength=64),
    "log_stream_id": s("LTS log stream ID.", maxLength=64),
}, ["log_group_id", "log_stream_id"], "LTS target.")
schemas["LogReportChannel"] = obj({
    "type": s("Channel type; only LTS.", enum=["LTS"]),
    "configuration": ref("LogReportConfiguration"),
}, ["type"], "Log report channel.")
schemas["ServiceAdditionalProperties"] = obj({
    "smn_notification": mapof(ref("SmnNotification"), "SMN notifications by name."),
    "log_report_channels": arr(ref("LogReportChannel"), "Log report channels; cannot be changed once enabled."),
    "websocket_upgrade": b("WebSocket upgrade; cannot be changed once enabled."),
}, desc="Additional service attribute.")

schemas["ServiceSecret"] = obj({
    "secretId": s("Secret ID."),
    "mouthPath": s("Mount path of the secret (the reference's spelling)."),
}, ["secretId", "mouthPath"], "Key mounted into the service.")

FLEX_INT_DESC = "An integer; arkserve also accepts a numeric string such as \"70\" (the reference's examples send strings)."


def flex_int(desc):
    return {
        "description": desc + " " + FLEX_INT_DESC,
        EXT: True,
        "oneOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\s*-?[0-9]+(\.0*)?\s*$"}],
    }


schemas["ServiceConfigRequest"] = obj({
    "model_id": s("Model ID."),
    "weight": flex_int("Traffic weight; mandatory for real-time (the weights of a service sum to 100); ignored for edge."),
    "specification": s("Resource flavor (see GET /v1/{project_id}/services/specifications) or custom.",
                       example="modelarts.vm.cpu.2u"),
    "custom_spec": ref("CustomSpec"),
    "envs": mapof(s(), "Environment variables."),
    "instance_count": flex_int("Number of instances, 1 to 128."),
    "deploy_timeout_in_seconds": flex_int("Timeout for deploying one instance, in seconds."),
    "cluster_id": s("Dedicated pool ID (takes precedence over the service-level field)."),
    "pool_name": s("Dedicated pool name (takes precedence over the service-level field)."),
    "additional_properties": mapof(ref("ModelAdditionalProperties"), "Per-model properties keyed by model ID."),
    "affinity": ref("ServiceAffinity"),
    "nodes": arr(s(), "Edge node IDs (GET /v1/{project_id}/nodes): mandatory for edge services (at least one per "
                 "entry, no node twice, 64 at most; instance_count 1), refused for real-time ones."),
    "src_path": s("Batch only: OBS input path."),
    "dest_path": s("Batch only: OBS output path."),
    "req_uri": s("Batch only: inference path."),
    "mapping_type": s("Batch only: file or csv.", enum=["file", "csv"]),
    "mapping_rule": {"type": "object", "description": "Batch only: CSV mapping rule."},
    "src_type": s("Batch only: empty or ManifestFile."),
}, ["model_id", "specification", "instance_count"], "Model running configuration of a deploy or update request.",
    closed=False)

schemas["DeployServiceRequest"] = obj({
    "workspace_id": s("Workspace ID; \"0\" when none.", default="0"),
    "schedule": arr(ref("Schedule"), "Auto-stop schedule (at most one entry).", maxItems=1),
    "cluster_id": s("Dedicated pool ID."),
    "pool_name": s("Dedicated pool name (priority over cluster_id)."),
    "infer_type": s("Inference mode. arkserve runs real-time and edge services; batch is refused with ModelArts.3518.",
                    enum=INFER_TYPES),
    "vpc_id": s("VPC ID; needs security_group_id and subnet_network_id."),
    "service_name": s("Service name, 1 to 64 characters.", minLength=1, maxLength=64),
    "description": s("Description, at most 100 characters; must not contain !<>+&\"'.", maxLength=100),
    "security_group_id": s("Security group ID; mandatory with vpc_id."),
    "subnet_network_id": s("Subnet ID; mandatory with vpc_id."),
    "config": arr(ref("ServiceConfigRequest"), "Model running configurations.", minItems=1),
    "additional_properties": mapof(ref("ServiceAdditionalProperties"), "Additional service attributes."),
    "load_balancer_policy": s("Load balancing policy.", enum=["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"]),
    "service_secrets": arr(ref("ServiceSecret"), "Keys mounted into the service."),
    "priority": flex_int("Preemption priority, 1 to 3."),
}, ["infer_type", "service_name", "config"], "CreateService request body.", closed=False)

schemas["DeployServiceResponse"] = obj({
    "service_id": s("Service ID."),
    "resource_ids": arr(s(), "Resource IDs; always empty in arkserve."),
}, ["service_id", "resource_ids"], "CreateService response.")

schemas["UpdateServiceRequest"] = obj({
    "schedule": arr(ref("Schedule"), "Auto-stop schedule; [] disables it.", maxItems=1),
    "description": s("Description, at most 100 characters.", maxLength=100),
    "config": arr(ref("ServiceConfigRequest"), "New model configuration; ignored when status is set.", minItems=1),
    "status": s("Start (running) or stop (stopped) the service; when set, config is ignored.",
                enum=["running", "stopped"]),
    "additional_properties": mapof(ref("ServiceAdditionalProperties"), "Additional service attributes."),
    "load_balancer_policy": s("Load balancing policy.", enum=["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"]),
    "service_secrets": arr(ref("ServiceSecret"), "Keys mounted into the service."),
    "priority": flex_int("Preemption priority, 1 to 3."),
}, desc="UpdateService request body; omitted fields are left unchanged.", closed=False)

# --- list / detail ---------------------------------------------------------------------------------
svc_item_props = {
    "failed_times": i("Number of failed calls."),
    "owner": s("User ID of the owner."),
    "due_time": i("Auto-stop time. " + MILLIS + " Only with a schedule."),
    "infer_type": s("Inference mode.", enum=INFER_TYPES),
    "service_name": s("Service name."),
    "description": s("Description."),
    "project": s("Project ID."),
    "invocation_times": i("Number of calls."),
    "publish_at": i("Creation time. " + MILLIS),
    "workspace_id": s("Workspace ID."),
    "schedule": arr(ref("Schedule"), "Auto-stop schedule; omitted when not set."),
    "operation_time": i("Last accepted change. " + MILLIS),
    "is_shared": b("Whether the service is shared; always false."),
    "service_id": s("Service ID."),
    "progress": i32("Deployment progress in percent; only while deploying.", minimum=0, maximum=100),
    "shared_count": i32("Number of subscriptions; always 0."),
    "tenant": s("Project ID."),
    "status": s("Service status.", enum=SERVICE_STATUS),
    "is_opened_sample_collection": s("Whether data collection is enabled (a string); always \"false\"."),
    "transition_at": i("Last status change. " + MILLIS),
    "is_free": b("Whether a free flavor is used; always false."),
    "additional_properties": mapof(ref("ServiceAdditionalProperties"),
                                   "Additional service attributes as deployed (the reference types them "
                                   "Map<String,String>); omitted when empty."),
}
svc_item_required = ["failed_times", "owner", "infer_type", "service_name", "description", "project",
                     "invocation_times", "publish_at", "workspace_id", "operation_time", "is_shared",
                     "service_id", "shared_count", "tenant", "status", "is_opened_sample_collection",
                     "transition_at", "is_free"]
schemas["ServiceListItem"] = obj(svc_item_props, svc_item_required, "A service in ListServices.")
schemas["ListServicesResponse"] = obj({
    "total_count": i32("Number of matching services without paging."),
    "count": i32("Number of services in this page."),
    "services": arr(ref("ServiceListItem"), "Services."),
}, ["total_count", "count", "services"], "ListServices response.")

schemas["Node"] = obj({
    "id": s("Edge node ID."),
    "name": s("Name of the edge node."),
    "state": s("Host status: RUNNING, FAIL (the agent cannot start instances) or UNCONNECTED (heartbeat lost).",
               enum=["RUNNING", "FAIL", "UNCONNECTED"]),
    "instance_status": s("Status of the service's instance on the node (service details only).",
                         enum=["running", "stopped", "notReady", "failed"]),
    "message": s("Why instance_status is failed or notReady."),
    "host_name": s("Host name of the node."),
    "host_ips": arr(s(), "Host IP addresses of the node."),
    "os_name": s("OS name."),
    "os_version": s("OS version."),
    "os_type": s("OS type."),
    "arch": s("Architecture."),
    "cpu": i32("Number of CPU cores."),
    "memory": i32("Memory size, in MB."),
    "gpu_num": i32("Number of GPUs."),
    "enable_gpu": b("Whether the node has GPUs."),
    "deployment_num": i32("Number of instances the node runs."),
    "created_at": s("First registration, YYYY-MM-DDThh:mm:ss (UTC)."),
    "updated_at": s("Last registration, YYYY-MM-DDThh:mm:ss (UTC)."),
    "heartbeat_at": ext(i("Last heartbeat. " + MILLIS), "arkserve extension."),
}, ["id", "name", "state", "host_ips", "cpu", "memory", "gpu_num", "enable_gpu", "deployment_num"],
    "An edge node (Table 6 of the service details).")

schemas["QueryServiceConfig"] = obj({
    "model_id": s("Model ID."),
    "model_name": s("Model name."),
    "model_version": s("Model version."),
    "weight": i32("Traffic weight."),
    "specification": s("Resource flavor."),
    "custom_spec": ref("CustomSpec"),
    "envs": mapof(s(), "Environment variables."),
    "cluster_id": s("Dedicated pool ID."),
    "pool_name": s("Dedicated pool name."),
    "instance_count": i32("Number of instances."),
    "deploy_timeout_in_seconds": i32("Instance deploy timeout, in seconds."),
    "additional_properties": mapof(ref("ModelAdditionalProperties"), "Per-model properties keyed by model ID."),
    "affinity": ref("ServiceAffinity"),
    "nodes": arr(ref("Node"), "Edge nodes of the entry; edge services only."),
    "status": s("Status of the instances, derived from the service status (the reference example uses notReady).",
                enum=["running", "stopped", "failed", "notReady"]),
    "scaling": b("Whether auto scaling is enabled; always false."),
    "support_debug": b("Whether online debugging is supported; always false."),
}, ["model_id", "weight", "instance_count", "status", "scaling", "support_debug"],
    "A model running configuration in ShowService.")

detail_props = dict(svc_item_props)
detail_props.update({
    "cluster_id": s("Dedicated pool ID; only when one is configured."),
    "pool_name": s("Dedicated pool name; only when one is configured."),
    "vpc_id": s("VPC ID; only with a custom network."),
    "subnet_network_id": s("Subnet ID; only with a custom network."),
    "security_group_id": s("Security group ID; only with a custom network."),
    "error_msg": s("Failure cause; only when status is failed."),
    "config": arr(ref("QueryServiceConfig"), "Model running configurations."),
    "access_address": s("Inference address, {base}/v1/infers/{service_id}; real-time services only, when running or concerning."),
    "update_time": i("When the current configuration was accepted. " + MILLIS),
    "load_balancer_policy": s("Load balancing policy; omitted when not set.",
                              enum=["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"]),
    "priority": i32("Preemption priority, 1 to 3; omitted when not set.", minimum=1, maximum=3),
})
schemas["ServiceDetail"] = obj(detail_props, svc_item_required + ["config", "update_time"],
                               "ShowService response.")

# --- update logs (Tables 4-11 of obtaining_service_update_logs) ----------------------------------
schemas["UpdateResult"] = obj({
    "result": b("Operation result: true for success."),
    "node_name": s("Edge node name."),
    "operation": s("Operation.", enum=["deploy", "delete"]),
    "node_id": s("Edge node ID."),
}, ["result", "node_name", "operation", "node_id"], "Result of an operation on an edge node (Table 11).")

schemas["ServiceLogConfig"] = obj({
    "model_id": s("Model ID."),
    "model_name": s("Model name."),
    "model_version": s("Model version."),
    "weight": i32("Traffic weight; returned for real-time (the weights sum to 100)."),
    "specification": s("Resource flavor; returned for real-time or edge."),
    "custom_spec": ref("CustomSpec"),
    "envs": mapof(s(), "Environment variables."),
    "cluster_id": s("Dedicated pool ID."),
    "instance_count": i32("Number of instances; returned for real-time."),
    "additional_properties": mapof(ref("ModelAdditionalProperties"), "Per-model properties keyed by model ID."),
}, ["model_id"], "Model running configuration of an update (Table 6).")

schemas["Log"] = obj({
    "update_time": i("Update time. " + MILLIS),
    "result": s("Update result.", enum=["SUCCESS", "FAIL", "RUNNING"]),
    "config": arr(ref("ServiceLogConfig"), "Model running configurations."),
    "success_num": i32("Number of nodes operated successfully; edge services only (while RUNNING: so far)."),
    "failed_num": i32("Number of nodes that failed; edge services only (while RUNNING: so far)."),
    "result_detail": arr(ref("UpdateResult"), "One row per finished node operation; edge services only."),
    "cluster_id": s("Dedicated pool ID."),
    "extend_config": arr(s(), "Personalized configuration."),
}, ["update_time", "result", "config"], "A service update record (Table 5).")

schemas["ServiceUpdateLogsResponse"] = obj({
    "service_name": s("Service name."),
    "service_id": s("Service ID."),
    "logs": arr(ref("Log"), "Service update records."),
}, ["service_name", "service_id", "logs"], "ShowServiceUpdateLogs response (Table 4).")

# --- monitor (obtaining_service_monitoring) -----------------------------------------------------------
schemas["Monitor"] = obj({
    "model_id": s("Model ID."),
    "model_name": s("Model name."),
    "model_version": s("Model version."),
    "model_running_instance_count": i32("Ready instances of the model."),
    "model_instance_count": i32("Configured instances of the model."),
    "invocation_times": i("Calls of the model's instances since the server started."),
    "failed_times": i("Failed calls (gateway errors and instance 5xx) since the server started."),
    "cpu_core_usage": n("CPU cores the model's processes use (average since the previous monitor call)."),
    "cpu_core_total": n("CPU cores the model's instances are granted."),
    "cpu_memory_usage": i32("Resident memory of the model's processes, in MB."),
    "cpu_memory_total": i32("Memory the model's instances are granted, in MB."),
    "gpu_usage": n("GPUs in use (arkserve does not measure GPU use: 0)."),
    "gpu_total": n("GPUs the model's instances are granted."),
    "node_id": s("Edge node ID; edge services (one item per node)."),
    "node_name": s("Edge node name; edge services."),
}, ["model_id", "model_running_instance_count", "model_instance_count"], "Monitoring of one model (Table 5).")

schemas["MonitorResponse"] = obj({
    "service_name": s("Service name."),
    "service_id": s("Service ID."),
    "monitors": arr(ref("Monitor"), "Per model of the service's configuration."),
    "service_running_instance_count": i32("Ready instances of the service."),
    "service_instance_count": i32("Configured instances of the service."),
    "req_count_per_min": i("Calls in the last minute."),
}, ["service_name", "service_id", "monitors", "service_running_instance_count", "service_instance_count",
    "req_count_per_min"], "ShowServiceMonitorInfo response (Table 4).")

# --- events ------------------------------------------------------------------------------------------
schemas["ServiceEvent"] = obj({
    "event_type": s("Event type.", enum=["normal", "abnormal"]),
    "event_info": s("Event text."),
    "occur_time": i("Event time. " + MILLIS),
}, ["event_type", "event_info", "occur_time"], "A service event.")
schemas["ServiceEventsResponse"] = obj({
    "service_name": s("Service name."),
    "service_id": s("Service ID."),
    "total_count": i32("Number of matching events without paging."),
    "count": i32("Number of events in this page."),
    "events": arr(ref("ServiceEvent"), "Events."),
}, ["service_name", "service_id", "total_count", "count", "events"], "ShowServiceEvents response.")

# --- specifications ----------------------------------------------------------------------------------
schemas["CpuInfo"] = obj({"arch": s("Architecture.", example="x86"), "cpu": n("Number of CPUs.")},
                         ["arch", "cpu"], "CPU of a flavor.")
schemas["MemoryInfo"] = obj({"unit": s("Unit; MB.", example="MB"), "memory": i32("Memory size.")},
                            ["unit", "memory"], "Memory of a flavor.")
schemas["GpuInfo"] = obj({
    "brand": s("Brand.", example="NVIDIA"), "version": s("Card type."), "unit": s("Unit; MB."),
    "memory": i32("Memory of the card."), "gpu": n("Number of GPUs."),
}, ["brand", "version", "unit", "memory", "gpu"], "GPU of a flavor.")
schemas["NpuInfo"] = obj({
    "brand": s("Brand.", example="ASCEND"), "version": s("Card type."), "unit": s("Unit; MB."),
    "memory": i32("Memory of the card."), "npu": i32("Number of NPUs."),
}, ["brand", "version", "unit", "memory", "npu"], "NPU of a flavor.")
schemas["Specification"] = obj({
    "specification": s("Flavor ID.", example="modelarts.vm.cpu.2u"),
    "billing_spec": s("Billing flavor ID."),
    "category": s("Flavor type.", enum=["CPU", "GPU", "NPU"]),
    "cpu_info": ref("CpuInfo"),
    "memory_info": ref("MemoryInfo"),
    "gpu_info": ref("GpuInfo"),
    "npu_info": ref("NpuInfo"),
    "is_open": b("false: a deploy with this flavor is refused (ModelArts.3976): it must be requested (the "
                 "catalog marks it closed) or one instance needs more than the whole resource pool."),
    "spec_status": s("normal: the resource pool can run an instance of this flavor; unavailable: one instance "
                     "needs more than the whole pool.", enum=["normal", "unavailable"]),
    "source_type": s("Model source type; empty."),
    "is_free": b("Whether the flavor is free."),
    "over_quota": b("true: one instance does not fit in what the pool has free now; a deploy is accepted and "
                    "its instances start when enough is released."),
    "extend_params": i32("Billing item."),
    "display_en": s("Description in English."),
    "display_cn": s("Description."),
}, ["specification", "billing_spec", "category", "cpu_info", "memory_info", "is_open", "spec_status",
    "source_type", "is_free", "over_quota", "extend_params", "display_en", "display_cn"],
    "A service deployment flavor. arkserve's catalog adds local flavors (arkserve.local.*).")
schemas["SpecificationsResponse"] = obj({
    "total_count": i32("Number of flavors."),
    "count": i32("Number of flavors in this page."),
    "specifications": arr(ref("Specification"), "Flavors."),
}, ["total_count", "count", "specifications"], "ShowServiceSpecifications response.")

# --- clusters ------------------------------------------------------------------------------------------
schemas["ClusterNodes"] = obj({
    "specification": s("Node flavor; local."),
    "count": i32("Number of nodes."),
    "available_count": i32("Number of available nodes."),
}, ["specification", "count", "available_count"], "Nodes of a pool.")
schemas["Cluster"] = obj({
    "cluster_id": s("Pool ID."),
    "cluster_name": s("Pool name."),
    "status": s("Pool status.", enum=["deploying", "running", "concerning", "abnormal"]),
    "description": s("Description."),
    "owner": s("Owner; the project ID."),
    "project": s("Project ID."),
    "tenant": s("Project ID."),
    "created_at": i("Creation time. " + MILLIS),
    "allocatable_cpu_cores": n("CPU cores free now: the capacity minus what instances hold."),
    "allocatable_memory": i32("Memory free now, MB: the capacity minus what instances hold."),
    "allocatable_gpus": n("GPUs free now: the capacity minus what instances hold."),
    "allocatable_npus": ext(i32("NPUs free now."), None),
    "total_cpu_cores": ext(n("CPU cores of the pool (its capacity)."), None),
    "total_memory": ext(i32("Memory of the pool, MB."), None),
    "total_gpus": ext(n("GPUs of the pool."), None),
    "total_npus": ext(i32("NPUs of the pool."), None),
    "allocated_cpu_cores": ext(n("CPU cores that instances hold now (their specifications)."), None),
    "allocated_memory": ext(i32("Memory that instances hold now, MB."), None),
    "allocated_gpus": ext(n("GPUs that instances hold now."), None),
    "allocated_npus": ext(i32("NPUs that instances hold now."), None),
    "nodes": ref("ClusterNodes"),
    "period_num": i32("Subscription periods; 0."),
    "period_type": s("Subscription period type (year or month); empty."),
    "product_id": s("Product ID; empty."),
    "order_id": s("Order ID; empty."),
}, ["cluster_id", "cluster_name", "status", "description", "owner", "project", "tenant", "created_at",
    "allocatable_cpu_cores", "allocatable_memory", "allocatable_gpus", "nodes", "period_num", "period_type",
    "product_id", "order_id", "allocatable_npus", "total_cpu_cores", "total_memory", "total_gpus", "total_npus",
    "allocated_cpu_cores", "allocated_memory", "allocated_gpus", "allocated_npus"],
    "A dedicated resource pool; arkserve has one, the local host.")
schemas["ClustersResponse"] = obj({
    "total_count": i32("Number of matching pools."),
    "count": i32("Number of pools in this page."),
    "clusters": arr(ref("Cluster"), "Pools."),
}, ["total_count", "count", "clusters"], "ListClusters response.")

# --- models ----------------------------------------------------------------------------------------------
schemas["CreateModelRequest"] = obj({
    "model_name": s("Model name: 1 to 64 letters, digits, hyphens and underscores, starting with a letter.",
                    minLength=1, maxLength=64),
    "model_version": s("Version: three dot-separated numbers of 1 or 2 digits, no leading zero.", example="1.0.0"),
    "source_location": ext(s(maxLength=1024), "arkserve runs models from local directories: an absolute path "
                                              "or a file:///path URL (no \"..\"), which must exist."),
    "model_type": s("Model type. Template is refused (ModelArts.3518).", enum=MODEL_TYPES),
    "description": s("Description, at most 100 characters; must not contain &!'\"<>=.", maxLength=100),
    "runtime": s("Runtime; defaults to the runtime of the configuration file."),
    "execution_code": s("Inference code path."),
    "source_copy": s("Whether to copy the image (Image models).", enum=["true", "false"], default="true"),
    "initial_config": ext(s(), "The configuration file as a string (otherwise config.json of source_location is "
                               "read). Besides the reference's fields arkserve reads cmd (the shell command "
                               "that starts an instance) and health."),
    "source_job_id": s("Training job ID."),
    "source_job_version": s("Training job version."),
    "input_params": arr({"type": "object"}, "Input parameters; stored and returned unchanged."),
    "output_params": arr({"type": "object"}, "Output parameters; stored and returned unchanged."),
    "model_metrics": s("Model metrics as a JSON string."),
    "source_type": s("Model source type; only auto.", enum=["auto"]),
    "dependencies": arr({"type": "object"}, "Package dependencies; stored and returned unchanged."),
    "workspace_id": s("Workspace ID.", default="0"),
    "model_algorithm": s("Model algorithm."),
    "apis": arr({"type": "object"}, "APIs of the model; stored and returned as a JSON string."),
    "install_type": arr(s(enum=["real-time", "batch", "edge"]), "Deployment types; default [real-time, batch].",
                        maxItems=3),
    "model_docs": arr({"type": "object"}, "Guide documents; stored and returned unchanged."),
    "template": {"type": "object", "description": "Template configuration (Template models, not supported)."},
}, ["model_name", "model_version", "source_location", "model_type"], "CreateModel request body.", closed=False)

schemas["CreateModelResponse"] = obj({"model_id": s("Model ID.")}, ["model_id"], "CreateModel response.")

schemas["ModelSpecification"] = {
    "type": "object",
    "description": "Minimum specifications for deployment; empty in arkserve.",
    "properties": {"min_cpu": s("Minimum CPU."), "min_gpu": s("Minimum GPU."), "min_memory": s("Minimum memory.")},
    "additionalProperties": s(),
}

model_item_props = {
    "owner": s("User ID of the owner."),
    "model_version": s("Model version."),
    "model_type": s("Model type.", enum=MODEL_TYPES),
    "description": s("Description."),
    "project": s("Project ID."),
    "source_type": s("Model source type; empty or auto."),
    "model_id": s("Model ID."),
    "model_source": s("Model source; custom.", enum=["auto", "algos", "custom"]),
    "install_type": arr(s(), "Deployment types."),
    "model_size": i("Size of the model directory at registration, in bytes."),
    "workspace_id": s("Workspace ID."),
    "model_status": s("Model status; published once registered.", enum=MODEL_STATUS),
    "market_flag": b("Whether the model comes from the market; false."),
    "tunable": b("Whether the model can be tuned; false."),
    "model_name": s("Model name."),
    "create_at": i("Creation time. " + MILLIS),
    "publishable_flag": b("Whether the model can be published; true."),
    "source_copy": s("Whether the image was copied.", enum=["true", "false"]),
    "tenant": s("Project ID."),
    "specification": ref("ModelSpecification"),
}
model_item_required = list(model_item_props)
schemas["ModelListItem"] = obj(model_item_props, model_item_required, "A model in ListModels.")
schemas["ListModelsResponse"] = obj({
    "models": arr(ref("ModelListItem"), "Models."),
    "total_count": i32("Number of matching models without paging."),
    "count": i32("Number of models in this page."),
}, ["models", "total_count", "count"], "ListModels response.")

schemas["ModelHealth"] = obj({
    "protocol": s("Protocol of the check.", example="http"),
    "check_method": s("Check method.", enum=["HTTP", "EXEC"]),
    "url": s("Path of the HTTP check."),
    "command": s("Command of the EXEC check."),
    "initial_delay_seconds": s("Delay before the first check, in seconds (a string).", pattern="^-?[0-9]+$"),
    "timeout_seconds": s("Timeout of a check, in seconds (a string).", pattern="^-?[0-9]+$"),
    "period_seconds": s("Interval between checks, in seconds (a string).", pattern="^-?[0-9]+$"),
    "failure_threshold": s("Failures before an instance counts as unhealthy (a string).", pattern="^-?[0-9]+$"),
}, ["initial_delay_seconds", "timeout_seconds", "period_seconds", "failure_threshold"],
    "Readiness check of a model; every field is a string, as in the reference.")

detail = dict(model_item_props)
detail.update({
    "source_location": ext(s(), "The local directory the model runs from."),
    "source_job_id": s("Training job ID; omitted when empty."),
    "source_job_version": s("Training job version; omitted when empty."),
    "model_algorithm": s("Model algorithm."),
    "execution_code": s("Inference code path; omitted when empty."),
    "image_address": s("Image address; omitted when empty."),
    "input_params": arr({}, "Input parameters as registered; null when registered as null.", nullable=True),
    "output_params": arr({}, "Output parameters as registered; null when registered as null.", nullable=True),
    "health": ref("ModelHealth"),
    "runtime": s("Runtime; omitted when empty."),
    "model_metrics": s("Model metrics (a JSON string); omitted when empty."),
    "dependencies": arr({}, "Dependencies as registered (or from the configuration file); null when registered "
                            "as null.", nullable=True),
    "apis": s("APIs of the model as a JSON string; omitted when none."),
    "model_docs": arr({}, "Guide documents as registered; null when registered as null.", nullable=True),
    "model_labels": arr(s(), "Labels; always empty."),
    "labels_map": obj({"labels": arr(s(), "Labels.")}, ["labels"], "Labels; always {\"labels\": []}."),
    "config": s("The model's configuration file as a string; omitted when none."),
    "cmd": ext(s(), "The command that starts an instance (from the configuration file); omitted when none."),
})
schemas["ModelDetail"] = obj(detail, model_item_required + ["source_location", "model_algorithm", "health",
                                                            "model_labels", "labels_map"],
                             "ShowModel response.")

schemas["DeleteModelFailure"] = obj({
    "error_msg": s("Why the model was not deleted."),
    "error_code": s("ModelArts error code, e.g. ModelArts.3009 (used by a service).", pattern=r"^ModelArts\.[0-9]{4}$"),
    "model_id": s("Model ID."),
}, ["error_msg", "error_code", "model_id"], "A model that could not be deleted.")
schemas["DeleteModelResponse"] = obj({
    "delete_success_list": arr(s(), "IDs of the deleted models."),
    "delete_failed_list": arr(ref("DeleteModelFailure"), "Models that could not be deleted."),
}, ["delete_success_list", "delete_failed_list"], "DeleteModel response.")

# ---------------------------------------------------------------------------------------------------------
# Parameters, headers, responses
# ---------------------------------------------------------------------------------------------------------
parameters = {
    "ProjectId": {"name": "project_id", "in": "path", "required": True,
                  "description": "Project ID; must be the project of the token (or, for a signed request, of X-Project-Id when sent).", "schema": s()},
    "ServiceId": {"name": "service_id", "in": "path", "required": True, "description": "Service ID.",
                  "schema": s()},
    "ModelId": {"name": "model_id", "in": "path", "required": True, "description": "Model ID.", "schema": s()},
    "InferPath": {"name": "path", "in": "path", "required": True,
                  "description": ("The rest of the path, passed to the instance as sent (escapes kept). It may "
                                  "contain slashes, which OpenAPI path parameters cannot express: every path "
                                  "below /v1/infers/{service_id}/ is this operation."),
                  "schema": s()},
    "XAuthToken": {"name": "X-Auth-Token", "in": "header", "required": False,
                   "description": "User token: the X-Subject-Token of POST /v3/auth/tokens. Required unless the request is signed with an access key (Authorization: SDK-HMAC-SHA256 ..., see the AKSK security scheme).", "schema": s()},
    "XProjectId": {"name": "X-Project-Id", "in": "header", "required": False,
                   "description": "Project ID; when present it must equal project_id.", "schema": s()},
    "XRequestId": ext({"name": "X-Request-Id", "in": "header", "required": False, "schema": s(maxLength=64, pattern=r"^[A-Za-z0-9._-]+$")},
                      "Request ID to log and echo; letters, digits, - _ ., at most 64. Otherwise the server picks one."),
    "Offset": {"name": "offset", "in": "query", "required": False, "description": PAGE_OFFSET_DESC,
               "schema": i32(minimum=0, maximum=1 << 30, default=0)},
    "Limit": {"name": "limit", "in": "query", "required": False, "description": "Page size, 1 to 1000, default 1000.",
              "schema": i32(minimum=1, maximum=1000, default=1000)},
    "Order": {"name": "order", "in": "query", "required": False, "description": "Sort order, default desc.",
              "schema": s(enum=["asc", "desc"], default="desc")},
}

headers = {
    "X-Request-Id": ext({"required": True, "schema": s()},
                        "Request ID: the caller's X-Request-Id when valid, otherwise generated. Sent with every response."),
    "Allow": {"description": "Methods arkserve serves.", "required": True, "schema": s(example="GET, POST, PUT, DELETE")},
}


def err_response(desc, extension=None, extra_headers=None):
    r = {"description": desc,
         "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
         "content": {"application/json": {"schema": ref("ErrorBody")}}}
    if extra_headers:
        r["headers"].update(extra_headers)
    if extension:
        r = ext(r, extension)
    return r


responses = {
    "BadRequest": err_response("Invalid request: a parameter, the body or a state conflict (ModelArts.0101, 3036, 3037, 3519, ...)."),
    "Unauthorized": err_response("Missing, invalid or expired token (ModelArts.0201, 0202, 0203, 0212) or wrong credentials (ModelArts.0213)."),
    "Forbidden": err_response("The token's project is not project_id (ModelArts.0210) or the role may not write (ModelArts.0108)."),
    "NotFound": err_response("The resource does not exist (ModelArts.3001, 3502, 3507), or no such API (ModelArts.0404, arkserve)."),
    "MethodNotAllowed": err_response("The path exists but not for this method (ModelArts.0405).",
                                     "arkserve's own code.",
                                     {"Allow": {"$ref": "#/components/headers/Allow"}}),
    "Conflict": err_response("The name and version already exist (ModelArts.3002, 3503)."),
    "PayloadTooLarge": err_response("The request body is larger than the limit, 1 MiB by default (ModelArts.0413).",
                                    "arkserve's own code."),
    "UnsupportedMediaType": err_response("The Content-Type is not JSON (ModelArts.0415).", "arkserve's own code."),
    "InternalError": err_response("Internal error (ModelArts.0010)."),
    "BadGateway": err_response("No instance of the service could be reached (ModelArts.0502).", "arkserve's own code."),
    "ServiceUnavailable": err_response("No instance of the service is ready: it is deploying, stopped or failed, or the "
                                       "server runs no gateway (ModelArts.0503).", "arkserve's own code."),
    "GatewayTimeout": err_response("The instance did not answer in time (ModelArts.0504).", "arkserve's own code."),
}


def ok(schema_name, desc):
    return {"description": desc,
            "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
            "content": {"application/json": {"schema": ref(schema_name)}}}


def errs(*codes):
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
             409: "Conflict", 413: "PayloadTooLarge", 415: "UnsupportedMediaType", 500: "InternalError",
             502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
    return {str(c): {"$ref": "#/components/responses/" + names[c]} for c in codes}


def qp(name, schema, desc):
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": schema}


def pref(name):
    return {"$ref": "#/components/parameters/" + name}


def json_body(schema_name, desc):
    return {"required": True, "description": desc, "content": {"application/json": {"schema": ref(schema_name)}}}


V1_COMMON = [pref("ProjectId"), pref("XAuthToken"), pref("XProjectId"), pref("XRequestId")]
V1_SECURITY = [{"XAuthToken": []}, {"AKSK": []}]


def v1op(op_id, summary, tags, responses, params=(), body=None, desc=None):
    op = {"operationId": op_id, "summary": summary, "tags": tags, "security": V1_SECURITY,
          "parameters": list(params), "responses": responses}
    if desc:
        op["description"] = desc
    if body:
        op["requestBody"] = body
    return op


paths = {}
V1 = "/v1/{project_id}"

# models
paths[V1 + "/models"] = {
    "parameters": V1_COMMON,
    "post": v1op("CreateModel", "Register a model (AI application)", ["Models"],
                 {"200": ok("CreateModelResponse", "The model is created."), **errs(400, 401, 403, 409, 413, 415, 500)},
                 body=json_body("CreateModelRequest", "The model to register."),
                 desc="Needs the admin or member role; a model with a cmd needs one of the server's cmd roles (admin by default)."),
    "get": v1op("ListModels", "List models", ["Models"],
                {"200": ok("ListModelsResponse", "Models."), **errs(400, 401, 403, 413, 500)},
                params=[
                    qp("model_name", s(maxLength=64), "Name filter (fuzzy unless exact_match)."),
                    qp("exact_match", b(default=False), "Match model_name exactly."),
                    qp("model_version", s(maxLength=16), "Version filter."),
                    qp("model_status", s(enum=MODEL_STATUS), "Status filter."),
                    qp("description", s(maxLength=100), "Description filter (fuzzy)."),
                    pref("Offset"), pref("Limit"),
                    qp("sort_by", s(enum=["create_at", "model_version", "model_size"], default="create_at"), "Sort field."),
                    pref("Order"),
                    qp("workspace_id", s(maxLength=64), "Workspace filter."),
                    qp("model_type", s(enum=MODEL_TYPES), "Type filter; not with not_model_type."),
                    qp("not_model_type", s(enum=MODEL_TYPES), "Excluded type; not with model_type."),
                ]),
}
paths[V1 + "/models/{model_id}"] = {
    "parameters": V1_COMMON + [pref("ModelId")],
    "get": v1op("ShowModel", "Show a model", ["Models"],
                {"200": ok("ModelDetail", "Model details."), **errs(400, 401, 403, 404, 413, 500)}),
    "delete": v1op("DeleteModel", "Delete a model", ["Models"],
                   {"200": ok("DeleteModelResponse", "Deletion result; a model used by a service is listed in delete_failed_list."),
                    **errs(400, 401, 403, 404, 413, 500)},
                   params=[qp("cascade", b(default=False), "Also delete the other versions of the same name.")]),
}

# services
paths[V1 + "/services"] = {
    "parameters": V1_COMMON,
    "post": v1op("CreateService", "Deploy a service", ["Services"],
                 {"200": ok("DeployServiceResponse", "Service deployed (asynchronously: poll status)."),
                  **errs(400, 401, 403, 404, 409, 413, 415, 500)},
                 body=json_body("DeployServiceRequest", "The service to deploy.")),
    "get": v1op("ListServices", "List services", ["Services"],
                {"200": ok("ListServicesResponse", "Services."), **errs(400, 401, 403, 413, 500)},
                params=[
                    qp("service_id", s(maxLength=64), "Service ID filter."),
                    qp("service_name", s(maxLength=64), "Service name filter."),
                    qp("model_id", s(maxLength=64), "Services that use this model."),
                    qp("workspace_id", s(maxLength=64), "Workspace filter."),
                    qp("infer_type", s(enum=INFER_TYPES), "Inference mode filter."),
                    qp("status", s(enum=SERVICE_STATUS), "Status filter."),
                    pref("Offset"), pref("Limit"),
                    qp("sort_by", s(enum=["publish_at", "service_name", "transition_at"], default="publish_at"), "Sort field."),
                    pref("Order"),
                    qp("tags", s(maxLength=256), "Tag filter; accepted, filters nothing (arkserve has no tags)."),
                ]),
}
paths[V1 + "/services/specifications"] = {
    "parameters": V1_COMMON,
    "get": v1op("ShowServiceSpecifications", "List deployment flavors", ["Services"],
                {"200": ok("SpecificationsResponse", "Service deployment flavors."), **errs(400, 401, 403, 413, 500)},
                params=[
                    qp("is_personal_cluster", b(default=False), "Flavors of the dedicated pool; accepted, same list."),
                    qp("infer_type", s(enum=["real-time", "batch"], default="real-time"), "Inference mode; accepted, same list."),
                    pref("Limit"),
                    pref("Offset"),
                ],
                desc="The reference types limit and offset as strings; arkserve requires their decimal integer form."),
}
paths[V1 + "/services/{service_id}"] = {
    "parameters": V1_COMMON + [pref("ServiceId")],
    "get": v1op("ShowService", "Show a service", ["Services"],
                {"200": ok("ServiceDetail", "Service details."), **errs(400, 401, 403, 404, 413, 500)}),
    "put": v1op("UpdateService", "Update, start or stop a service", ["Services"],
                {"200": ok("EmptyObject", "Update accepted; it is recorded in the update logs."),
                 **errs(400, 401, 403, 404, 413, 415, 500)},
                body=json_body("UpdateServiceRequest", "The changes.")),
    "delete": v1op("DeleteService", "Delete services", ["Services"],
                   {"200": ok("EmptyObject", "The service is deleted."), **errs(400, 401, 403, 404, 413, 500)},
                   desc="service_id may list up to 100 comma-separated IDs; if one does not exist nothing is deleted."),
}
paths[V1 + "/services/{service_id}/events"] = {
    "parameters": V1_COMMON + [pref("ServiceId")],
    "get": v1op("ShowServiceEvents", "List service events", ["Services"],
                {"200": ok("ServiceEventsResponse", "Service events."), **errs(400, 401, 403, 404, 413, 500)},
                params=[
                    qp("event_type", s(enum=["normal", "abnormal"]), "Event type filter."),
                    qp("event_info", s(maxLength=256), "Event text filter (substring); must not contain `(){}';,[]<>/?."),
                    qp("start_time", i(minimum=0), "Events at or after this time. " + MILLIS),
                    qp("end_time", i(minimum=0), "Events at or before this time. " + MILLIS),
                    pref("Offset"), pref("Limit"),
                    qp("sort_by", s(enum=["occur_time"], default="occur_time"), "Sort field."),
                    pref("Order"),
                ]),
}
paths[V1 + "/services/{service_id}/logs"] = {
    "parameters": V1_COMMON + [pref("ServiceId")],
    "get": v1op("ShowServiceUpdateLogs", "List service update logs", ["Services"],
                {"200": ok("ServiceUpdateLogsResponse", "Service update logs."), **errs(400, 401, 403, 404, 413, 500)},
                params=[qp("update_time", i(minimum=0, maximum=1 << 53),
                           "Return only the entry with this update time. By default update logs are not filtered.")]),
}
paths[V1 + "/services/{service_id}/monitor"] = {
    "parameters": V1_COMMON + [pref("ServiceId")],
    "get": v1op("ShowServiceMonitorInfo", "Show service monitoring", ["Services"],
                {"200": ok("MonitorResponse", "Monitoring of the service's instances."),
                 **errs(400, 401, 403, 404, 413, 500)},
                params=[qp("node_id", s(maxLength=256), "Edge node ID: only that node's figures (edge services; "
                           "real-time services ignore it).")]),
}
paths[V1 + "/clusters"] = {
    "parameters": V1_COMMON,
    "get": v1op("ListClusters", "List dedicated resource pools", ["Services"],
                {"200": ok("ClustersResponse", "Resource pools: the local host pool."), **errs(400, 401, 403, 413, 500)},
                params=[
                    qp("cluster_name", s(maxLength=64), "Name filter (substring)."),
                    qp("status", s(enum=["deploying", "running", "concerning", "abnormal"]), "Status filter."),
                    pref("Offset"), pref("Limit"),
                    qp("sort_by", s(enum=["created_at", "cluster_name"], default="created_at"), "Sort field."),
                    pref("Order"),
                ]),
}

# edge nodes (docs/edge.md): arkserve extensions
schemas["ListNodesResponse"] = ext(obj({
    "total_count": i32("Number of nodes."),
    "count": i32("Number of nodes."),
    "nodes": arr(ref("Node"), "The project's edge nodes, by name."),
}, ["total_count", "count", "nodes"], "The project's edge nodes."), "arkserve extension.")
schemas["NodeRegistration"] = ext(obj({
    "name": s("Node name, 1 to 64 letters, digits, - and _, starting with a letter."),
    "host_name": s("Host name."), "host_ips": arr(s(), "Host IP addresses (at most 16)."),
    "os_name": s("OS name."), "os_version": s("OS version."), "os_type": s("OS type."), "arch": s("Architecture."),
    "cpu": i32("CPU cores."), "memory": i32("Memory in MB."), "gpu_num": i32("GPUs."),
}, ["name"], "What an agent registers about its node.", closed=False), "arkserve extension.")
schemas["NodeRegistrationResponse"] = ext(obj({
    "node_id": s("The node's ID."),
    "heartbeat_interval_seconds": i32("How often the agent sends heartbeats."),
}, ["node_id", "heartbeat_interval_seconds"], "Registration accepted."), "arkserve extension.")
schemas["NodeInstance"] = obj({
    "service_id": s("Edge service ID."),
    "update_time": i("The update-log entry whose configuration the instance runs. " + MILLIS),
    "status": s("Instance status.", enum=["running", "notReady", "failed"]),
    "message": s("Why it failed or is not ready."),
    "cpu_cores": n("CPU cores in use."),
    "memory_mb": i32("Resident memory in MB."),
}, ["service_id", "update_time", "status"], "An instance an agent runs.")
schemas["NodeHeartbeat"] = ext(obj({
    "error": s("The agent's own failure (the node is FAIL while set); empty when none."),
    "instances": arr(ref("NodeInstance"), "The instances the agent runs (at most 256)."),
}, desc="A heartbeat of an agent.", closed=False), "arkserve extension.")
schemas["EdgeInstance"] = obj({
    "model_id": s("Model ID."), "model_dir": s("Model directory (the same path on the node)."),
    "cmd": s("Command, run with /bin/sh -c in model_dir with PORT and MODEL_DIR set."),
    "envs": mapof(s(), "Environment variables."), "health": {"type": "object", "description": "Readiness check."},
    "grace_period_seconds": i32("SIGTERM to SIGKILL."), "deploy_timeout_seconds": i32("Readiness deadline."),
    "cpu": n("CPU cores granted."), "memory_mb": i32("Memory granted, MB."),
    "error": s("Why the placement cannot be run (the agent reports it failed)."),
}, ["model_id", "health", "grace_period_seconds", "deploy_timeout_seconds"], "What an agent starts for a placement.")
schemas["EdgeAssignment"] = obj({
    "service_id": s("Edge service ID."),
    "update_time": i("The update-log entry whose configuration it runs. " + MILLIS),
    "instance": ref("EdgeInstance"),
}, ["service_id", "update_time", "instance"], "One placement of a node.")
schemas["NodePlacementsResponse"] = ext(obj({
    "version": s("Version of the answer; send it back as ?version= to wait for a change."),
    "placements": arr(ref("EdgeAssignment"), "What the node runs: its placements of services that are not stopped."),
}, ["version", "placements"], "The node's placements."), "arkserve extension.")

NODE_CRED = [{"NodeCredential": []}]


def agentop(op_id, summary, responses, params=(), body=None, desc=None):
    op = {"operationId": op_id, "summary": summary, "tags": ["Edge"], "security": NODE_CRED,
          "parameters": list(params), "responses": responses}
    if desc:
        op["description"] = desc
    if body:
        op["requestBody"] = body
    return ext(op, "arkserve extension: the agent API (arkserve agent), with a node credential.")


NODE_ID = {"name": "node_id", "in": "path", "required": True, "schema": s(), "description": "Edge node ID."}
AGENT_COMMON = [pref("ProjectId"), NODE_ID, pref("XRequestId")]
paths[V1 + "/nodes"] = {
    "parameters": V1_COMMON,
    "get": ext(v1op("ListNodes", "List edge nodes", ["Edge"], {"200": ok("ListNodesResponse", "Edge nodes."),
                                                              **errs(400, 401, 403, 413, 500)}), "arkserve extension."),
}
paths[V1 + "/nodes/{node_id}"] = {
    "parameters": V1_COMMON + [NODE_ID],
    "get": ext(v1op("ShowNode", "Show an edge node", ["Edge"], {"200": ok("Node", "The node."),
                                                               **errs(400, 401, 403, 404, 413, 500)}), "arkserve extension."),
    "delete": ext(v1op("DeleteNode", "Delete an edge node", ["Edge"],
                       {"200": ok("EmptyObject", "The node is deleted; an agent still running registers it again."),
                        **errs(400, 401, 403, 404, 413, 500)},
                       desc="Refused (400) while a service has a placement on the node."), "arkserve extension."),
}
paths[V1 + "/nodes/{node_id}/registration"] = {
    "parameters": AGENT_COMMON,
    "put": agentop("RegisterNode", "Register an edge node", {"200": ok("NodeRegistrationResponse", "Registered."),
                                                              **errs(400, 401, 403, 413, 415, 500)},
                   body=json_body("NodeRegistration", "The node's name and facts.")),
}
paths[V1 + "/nodes/{node_id}/heartbeat"] = {
    "parameters": AGENT_COMMON,
    "post": agentop("NodeHeartbeat", "Send a heartbeat", {"200": ok("EmptyObject", "Recorded."),
                                                           **errs(400, 401, 403, 404, 413, 415, 500)},
                    body=json_body("NodeHeartbeat", "The agent's instances.")),
}
paths[V1 + "/nodes/{node_id}/placements"] = {
    "parameters": AGENT_COMMON,
    "get": agentop("NodePlacements", "Get (long-poll) the node's placements",
                   {"200": ok("NodePlacementsResponse", "The node's placements."), **errs(400, 401, 403, 404, 413, 500)},
                   params=[qp("version", s(maxLength=64), "The version the agent has; equal to the current one, the "
                              "call waits for a change."),
                           qp("wait", i(minimum=0, maximum=30), "Seconds to wait for a change, default and at most 30.")]),
}

paths["/openapi.json"] = {
    "get": ext({"operationId": "GetOpenAPI", "summary": "This document", "tags": ["arkserve"], "security": [],
                "responses": {"200": {"description": "The OpenAPI document.",
                                      "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}},
                                      "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}},
                              **errs(413, 500)}}, "Serves this document; no token needed."),
}

# inference: the gateway (internal/gateway), any method, any path below the service
INFER_DESC = ("Sends the request to a ready instance of the service (the service's access_address) and streams "
              "back its response: status, headers and body as the instance sent them. Any method is forwarded; the "
              "instance does not see X-Auth-Token, Authorization, Proxy-* or hop-by-hop headers, and gets "
              "X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and X-Request-Id. Bodies up to 64 MiB (server "
              "setting). Traffic is split across the configuration's models by weight and across a model's "
              "instances by load_balancer_policy. Any role of the service's project may call it; a service of "
              "another project answers 404 like a missing one.")
INFER_BODY = {"required": False, "description": "Passed to the instance as is; any media type.",
              "content": {"*/*": {"schema": {}}}}


def infer_responses():
    return {"default": {"description": "The instance's response, passed through (hop-by-hop headers removed). Its "
                                       "status may also be one of the codes below, with the instance's own body.",
                        "content": {"*/*": {"schema": s(format="binary")}}},
            **errs(401, 404, 413, 500, 502, 503, 504)}


def infer_path(params, suffix):
    item = {"parameters": [pref("ServiceId")] + params + [pref("XAuthToken"), pref("XRequestId")]}
    for m in ["get", "post", "put", "patch", "delete"]:
        op = ext({"operationId": "Infer" + m.capitalize() + suffix, "summary": "Call the service (" + m.upper() + ")",
                  "tags": ["Inference"], "security": V1_SECURITY, "parameters": [], "responses": infer_responses(),
                  "description": INFER_DESC}, None)
        if m in ("post", "put", "patch"):
            op["requestBody"] = INFER_BODY
        item[m] = op
    return item


paths["/v1/infers/{service_id}"] = infer_path([], "")
paths["/v1/infers/{service_id}/{path}"] = infer_path([pref("InferPath")], "Path")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import keystone  # noqa: E402
    keystone.add(paths, schemas, responses, parameters, headers, helpers=globals())
    import credentials  # noqa: E402
    credentials.add(paths, schemas, responses, helpers=globals())
    HAVE_KEYSTONE = True
except ImportError:
    HAVE_KEYSTONE = False

doc = {
    "openapi": "3.0.3",
    "info": {
        "title": "arkserve API",
        "version": "1.0.0",
        "description": ("Self-hosted ModelArts-v1-compatible inference API (models, real-time services), a Keystone v3 "
                        "subset to obtain tokens, and this document. Schemas describe what arkserve sends; fields and "
                        "routes marked x-arkserve-extension are arkserve's own. Errors use the ModelArts body "
                        "{error_code, error_msg}."),
    },
    "servers": [{"url": "/"}],
    "tags": [
        {"name": "Identity", "description": "Keystone v3 subset: tokens and projects."},
        {"name": "Models", "description": "ModelArts v1 AI applications."},
        {"name": "Services", "description": "ModelArts v1 real-time services."},
        {"name": "Inference", "description": "Calls to deployed real-time services (arkserve's gateway)."},
        {"name": "Edge", "description": "arkserve extension: edge nodes and the agent API (docs/edge.md)."},
        {"name": "arkserve", "description": "arkserve's own routes."},
    ],
    "paths": paths,
    "components": {
        "schemas": schemas,
        "responses": responses,
        "parameters": parameters,
        "headers": headers,
        "securitySchemes": {
            "XAuthToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
                           "description": "Token from POST /v3/auth/tokens (the X-Subject-Token response header)."},
            "AKSK": {"type": "apiKey", "in": "header", "name": "Authorization",
                     "description": "AK/SK request signature as the Huawei Cloud SDKs send it: Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=..., Signature=... with X-Sdk-Date (at most 15 minutes off) and, for project APIs, X-Project-Id. Access keys come from /v3.0/OS-CREDENTIAL/credentials or arkserve access-key create."},
            "NodeCredential": {"type": "http", "scheme": "bearer",
                               "description": "arkserve extension: a node credential (arkserve admin node credential create)."},
        },
    },
    "x-arkserve-unrouted-responses": {
        "description": ("arkserve extension: responses to requests that match no operation: 404 for an unknown "
                        "path, 405 for a known path with another method (with Allow), 413 (checked before routing) "
                        "for an oversized body, 500 for an internal error."),
        "404": {"$ref": "#/components/responses/NotFound"},
        "405": {"$ref": "#/components/responses/MethodNotAllowed"},
        "413": {"$ref": "#/components/responses/PayloadTooLarge"},
        "500": {"$ref": "#/components/responses/InternalError"},
    },
}
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "internal", "httpapi", "openapi.json")
with open(out, "w") as f:
    json.dump(doc, f, indent=2, ensure_ascii=False)
    f.write("\n")
print("wrote", out, "keystone" if HAVE_KEYSTONE else "(no keystone)")
