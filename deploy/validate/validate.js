#!/usr/bin/env node
// validate.js -- checks every manifest under deploy/k8s without a cluster.
//
//   node validate.js [--root DIR]      (DIR defaults to ../k8s beside this file)
//
// For every YAML file, one line `ok` or `FAIL` with the reasons:
//   - it parses (every document, duplicate keys rejected);
//   - each Kubernetes object passes kubernetes-models' validate() (the
//     upstream OpenAPI schemas; KEDA objects: @kubernetes-models/keda);
//   - each object type-checks against the same packages' TypeScript types
//     with excess-property checks, which catches unknown or misspelt fields
//     that the JSON schemas let through (kubectl apply rejects them);
//   - a strategic-merge patch is applied to the object it targets (found
//     among the other manifests) and the result is checked as above;
//   - kustomization.yaml: everything it names exists, and every YAML file
//     under the root is used by some kustomization;
//   - ffpool.yaml inside a ConfigMap uses only keys the programs know
//     (proto/config.c), and so does every FFPOOL_* environment variable;
//   - a few ffpool rules: worker liveness on /healthz and readiness on
//     /readyz (port 9090), a grace period matched to the drain, tini as PID 1,
//     KEDA reading the list ffpool:queue; for every worker Deployment
//     (ffpool-worker, ffpool-worker-gpu-*): known worker.hw_devices types,
//     and for one that asks for a GPU (nvidia.com/gpu, amd.com/gpu,
//     gpu.intel.com/*) a component label of its own, no surge pod in a
//     rollout, and for NVIDIA the video capability and no
//     NVIDIA_VISIBLE_DEVICES of its own; privileged never with
//     allowPrivilegeEscalation false (the API server refuses it).
// When `kubectl` is on PATH it also renders every kustomization with
// `kubectl kustomize` and checks the rendered objects (FFPOOL_KUSTOMIZE=0
// skips this); without kubectl that part is reported as skipped. In a
// rendered set it also checks that no pod is selected by two workload
// selectors or two PodDisruptionBudgets (eviction refuses such pods), and
// that each worker's slots x job memory limit fits its memory limit.
//
// Exit status 0 only when everything passed. The last line reads
// `manifests: N passed, M failed`.
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
let root = path.resolve(here, "..", "k8s");
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === "--root") root = path.resolve(process.argv[++i]);
}
const rel = (p) => path.relative(repo, p) || ".";

let passed = 0;
let failed = 0;
function report(name, errors, detail) {
  if (errors.length === 0) {
    passed++;
    console.log(`ok   ${name}${detail ? ": " + detail : ""}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? ": " + detail : ""}`);
    for (const e of errors) console.log(`       ${e}`);
  }
}

// ---- loading ----
function walk(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p));
    else if (/\.ya?ml$/.test(entry.name)) out.push(p);
  }
  return out;
}

function parseAll(text) {
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  const errors = [];
  const objects = [];
  for (const d of docs) {
    for (const e of d.errors) errors.push(`YAML: ${e.message}`);
    for (const w of d.warnings) errors.push(`YAML warning: ${w.message}`);
    if (d.errors.length === 0) {
      const value = d.toJS();
      if (value !== null && value !== undefined) objects.push(value);
    }
  }
  return { objects, errors };
}

// ---- kubernetes-models ----
const modelCache = new Map();
function modulePath(apiVersion, kind) {
  if (apiVersion === "keda.sh/v1alpha1") return `@kubernetes-models/keda/keda.sh/v1alpha1/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}
async function modelFor(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!modelCache.has(key)) {
    let model = null;
    try {
      const mod = await import(modulePath(apiVersion, kind));
      model = mod[kind] || null;
    } catch {
      model = null;
    }
    modelCache.set(key, model);
  }
  return modelCache.get(key);
}

async function schemaErrors(obj) {
  if (!obj || typeof obj !== "object" || !obj.apiVersion || !obj.kind) return ["not a Kubernetes object (apiVersion and kind required)"];
  const Model = await modelFor(obj.apiVersion, obj.kind);
  if (!Model) return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return [`schema: ${e.message}`];
  }
}

// ---- strict field check: TypeScript excess-property checks ----
// Collected, then compiled in one program (type-checking is the slow part).
const strictJobs = []; // { id, obj, onError(msg) }
function queueStrict(obj, onError) {
  // Only types that exist (schemaErrors, called first, has reported the rest).
  if (!obj || !obj.apiVersion || !obj.kind || !modelCache.get(`${obj.apiVersion}/${obj.kind}`)) return;
  strictJobs.push({ id: strictJobs.length, obj, onError });
}
function runStrict() {
  if (strictJobs.length === 0) return;
  const lines = [];
  const ranges = [];
  const imported = new Map();
  for (const job of strictJobs) {
    const spec = modulePath(job.obj.apiVersion, job.obj.kind);
    if (!imported.has(spec)) {
      const alias = `T${imported.size}`;
      imported.set(spec, alias);
      lines.unshift(`import type { I${job.obj.kind} as ${alias} } from ${JSON.stringify(spec)};`);
    }
  }
  const header = lines.length;
  for (const job of strictJobs) {
    const alias = imported.get(modulePath(job.obj.apiVersion, job.obj.kind));
    const body = JSON.stringify(job.obj, null, 2).split("\n");
    const start = lines.length;
    lines.push(`export const o${job.id}: ${alias} = ${body[0]}`, ...body.slice(1));
    lines[lines.length - 1] += ";";
    ranges.push({ start, end: lines.length - 1, job });
  }
  const fileName = path.join(here, "__manifests_check.ts");
  const source = lines.join("\n");
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => (path.resolve(f) === fileName ? true : fileExists(f));
  host.readFile = (f) => (path.resolve(f) === fileName ? source : readFile(f));
  host.getSourceFile = (f, lang, onError, create) =>
    path.resolve(f) === fileName ? ts.createSourceFile(f, source, lang, true) : getSourceFile(f, lang, onError, create);
  const program = ts.createProgram([fileName], options, host);
  const diags = [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()];
  for (const d of diags) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (!d.file || path.resolve(d.file.fileName) !== fileName) {
      for (const job of strictJobs) job.onError(`types: ${msg}`);
      continue;
    }
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    const range = ranges.find((r) => line >= r.start && line <= r.end);
    if (!range) {
      if (line < header) for (const job of strictJobs) job.onError(`types: ${msg}`);
      continue;
    }
    // The JSON path of the offending line, from the indentation above it.
    const keyPath = [];
    let indent = Infinity;
    for (let l = line; l > range.start; l--) {
      const m = /^(\s*)"([^"]+)":/.exec(lines[l]);
      if (m && m[1].length < indent) {
        keyPath.unshift(m[2]);
        indent = m[1].length;
      }
    }
    range.job.onError(`unknown or mistyped field at ${keyPath.join(".") || "(top)"}: ${msg}`);
  }
}

// ---- strategic merge (enough for container/volume/env patches) ----
const mergeKeys = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  volumes: "name",
  env: "name",
  envFrom: null,
  volumeMounts: "mountPath",
  ports: "containerPort",
  imagePullSecrets: "name",
};
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
function smpMerge(base, patch, field) {
  if (Array.isArray(patch)) {
    const key = mergeKeys[field];
    if (!key || !Array.isArray(base)) return structuredClone(patch);
    const out = structuredClone(base);
    for (const item of patch) {
      const i = out.findIndex((b) => isObj(b) && isObj(item) && b[key] === item[key]);
      if (i >= 0) out[i] = smpMerge(out[i], item, null);
      else out.push(structuredClone(item));
    }
    return out;
  }
  if (isObj(patch)) {
    const out = isObj(base) ? structuredClone(base) : {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = smpMerge(out[k], v, k);
    }
    return out;
  }
  return patch;
}

// ---- ffpool configuration keys ----
function ffpoolKeys() {
  const src = fs.readFileSync(path.join(repo, "proto", "config.c"), "utf8");
  const keys = new Set();
  for (const m of src.matchAll(/KEY_[A-Z]+\(\s*"([a-z0-9_]+\.[a-z0-9_]+)"/g)) keys.add(m[1]);
  if (keys.size === 0) throw new Error("no configuration keys found in proto/config.c");
  return keys;
}
const configKeys = ffpoolKeys();
const envKeys = new Map([...configKeys].map((k) => [`FFPOOL_${k.replace(".", "_").toUpperCase()}`, k]));

function podSpecOf(obj) {
  if (!isObj(obj) || !isObj(obj.spec)) return null;
  if (obj.kind === "Pod") return obj.spec;
  if (isObj(obj.spec.template) && isObj(obj.spec.template.spec)) return obj.spec.template.spec;
  return null;
}
function containersOf(obj) {
  const spec = podSpecOf(obj);
  return spec ? [...(spec.initContainers || []), ...(spec.containers || [])] : [];
}

// ---- workers and GPUs ----
const isWorkerName = (name) => typeof name === "string" && /^ffpool-worker(-|$)/.test(name);
// The device types libav 5.1 knows (av_hwdevice_get_type_name), plus the
// worker's own v4l2m2m; worker.hw_devices is auto, none or a list of these.
const hwTypes = new Set(["vdpau", "cuda", "vaapi", "dxva2", "qsv", "videotoolbox", "d3d11va", "drm", "opencl", "mediacodec", "vulkan", "v4l2m2m"]);
function hwDevicesErrors(what, value) {
  const text = String(value ?? "").trim();
  if (text === "" || text === "auto" || text === "none") return [];
  const bad = text.split(",").map((t) => t.trim()).filter((t) => !hwTypes.has(t));
  return bad.length ? [`${what}: unknown device type ${bad.map((b) => JSON.stringify(b)).join(", ")} (auto, none or a list of ${[...hwTypes].join(", ")})`] : [];
}
const gpuResource = (key) => key === "nvidia.com/gpu" || key === "amd.com/gpu" || key.startsWith("gpu.intel.com/");
function gpuWorkerErrors(obj) {
  const errors = [];
  const spec = podSpecOf(obj);
  const w = ((spec && spec.containers) || []).find((c) => c.name === "worker");
  const limits = (w && w.resources && w.resources.limits) || {};
  const gpus = Object.keys(limits).filter(gpuResource);
  if (gpus.length === 0) return errors;
  const labels = (obj.spec.template.metadata || {}).labels || {};
  if (labels["app.kubernetes.io/component"] === "worker")
    errors.push("GPU worker: pods labelled component=worker are the CPU workers' (their Deployment, budget and autoscaler would select these)");
  const surge = ((obj.spec.strategy || {}).rollingUpdate || {}).maxSurge;
  if ((obj.spec.strategy || {}).type !== "Recreate" && !(surge === 0 || surge === "0%"))
    errors.push(`GPU worker: rollingUpdate.maxSurge ${surge === undefined ? "(default 25%)" : surge}: a surge pod waits for a GPU the old pod holds`);
  if (gpus.includes("nvidia.com/gpu")) {
    const env = new Map((w.env || []).map((e) => [e.name, e.value]));
    if (env.has("NVIDIA_VISIBLE_DEVICES"))
      errors.push("NVIDIA worker: NVIDIA_VISIBLE_DEVICES is the device plugin's (set here it overrides the GPU allocated)");
    const caps = env.get("NVIDIA_DRIVER_CAPABILITIES");
    if (caps !== undefined && caps !== "all" && !(caps.split(",").includes("video") && caps.split(",").includes("compute")))
      errors.push(`NVIDIA worker: NVIDIA_DRIVER_CAPABILITIES ${caps} lacks compute or video (CUDA, NVENC/NVDEC)`);
  }
  return errors;
}

function ffpoolChecks(obj) {
  const errors = [];
  if (obj.kind === "ConfigMap" && isObj(obj.data) && typeof obj.data["ffpool.yaml"] === "string") {
    const { objects, errors: yerr } = parseAll(obj.data["ffpool.yaml"]);
    errors.push(...yerr.map((e) => `ffpool.yaml: ${e}`));
    const cfg = objects[0];
    if (!isObj(cfg)) errors.push("ffpool.yaml: not a mapping of sections");
    else
      for (const [section, keys] of Object.entries(cfg)) {
        if (!isObj(keys)) {
          errors.push(`ffpool.yaml: ${section} must be a section (e.g. redis:)`);
          continue;
        }
        for (const [k, v] of Object.entries(keys)) {
          if (!configKeys.has(`${section}.${k}`)) errors.push(`ffpool.yaml: unknown configuration key ${section}.${k}`);
          if (isObj(v) || Array.isArray(v)) errors.push(`ffpool.yaml: ${section}.${k} must be a scalar`);
          if (`${section}.${k}` === "worker.hw_devices") errors.push(...hwDevicesErrors("ffpool.yaml: worker.hw_devices", v));
        }
      }
  }
  for (const c of containersOf(obj)) {
    for (const e of c.env || []) {
      if (e.name && e.name.startsWith("FFPOOL_") && e.name !== "FFPOOL_CONFIG" && !envKeys.has(e.name))
        errors.push(`container ${c.name}: ${e.name} names no configuration key`);
    }
  }
  const name = obj.metadata && obj.metadata.name;
  for (const c of containersOf(obj)) {
    const sc = c.securityContext || {};
    if (sc.privileged === true && sc.allowPrivilegeEscalation === false)
      errors.push(`container ${c.name}: privileged with allowPrivilegeEscalation false (the API server refuses it)`);
    const hw = (c.env || []).find((e) => e.name === "FFPOOL_WORKER_HW_DEVICES");
    if (hw) errors.push(...hwDevicesErrors(`container ${c.name}: FFPOOL_WORKER_HW_DEVICES`, hw.value));
  }
  if (obj.kind === "Deployment" && isWorkerName(name)) {
    errors.push(...gpuWorkerErrors(obj));
    const spec = podSpecOf(obj);
    const w = (spec.containers || []).find((c) => c.name === "worker");
    const grace = spec.terminationGracePeriodSeconds;
    if (!(grace >= 10 && grace <= 60)) errors.push(`worker: terminationGracePeriodSeconds ${grace} not matched to the drain (10-60 s)`);
    if (!w) errors.push("worker: no container named worker");
    else {
      const port = (w.ports || []).find((p) => p.containerPort === 9090);
      const probe = (p, want) =>
        p && p.httpGet && p.httpGet.path === want && (p.httpGet.port === 9090 || (port && p.httpGet.port === port.name));
      if (!probe(w.livenessProbe, "/healthz")) errors.push("worker: livenessProbe must be httpGet /healthz on 9090 (own progress)");
      if (!probe(w.readinessProbe, "/readyz")) errors.push("worker: readinessProbe must be httpGet /readyz on 9090");
      if (w.command) errors.push("worker: command overrides the image's tini entrypoint");
      if (w.lifecycle && w.lifecycle.preStop) errors.push("worker: no preStop needed (the worker drains on SIGTERM)");
    }
  }
  if (obj.kind === "Deployment" && name === "ffpool-scheduler") {
    const s = (podSpecOf(obj).containers || []).find((c) => c.name === "scheduler");
    if (!s || !s.readinessProbe) errors.push("scheduler: readinessProbe required");
    if (s && s.command && s.command[0] !== "/usr/bin/tini") errors.push("scheduler: run under tini");
  }
  if (obj.kind === "ScaledObject") {
    for (const t of obj.spec.triggers || [])
      if (t.type === "redis" && (t.metadata || {}).listName !== "ffpool:queue")
        errors.push(`ScaledObject: redis trigger must read the list ffpool:queue, not ${(t.metadata || {}).listName}`);
  }
  return errors;
}

function describe(obj) {
  return obj && obj.kind ? `${obj.kind}/${(obj.metadata && obj.metadata.name) || "?"}` : "?";
}

// ---- kustomizations ----
const files = walk(root);
const parsed = new Map(files.map((f) => [f, parseAll(fs.readFileSync(f, "utf8"))]));
const isKustomization = (f) => path.basename(f) === "kustomization.yaml" || path.basename(f) === "kustomization.yml";
const used = new Set(); // files referenced by some kustomization
const patchFiles = new Map(); // patch file -> [target selectors]
const kustomizationErrors = new Map();

for (const f of files.filter(isKustomization)) {
  const errors = [...parsed.get(f).errors];
  const k = parsed.get(f).objects[0] || {};
  const dir = path.dirname(f);
  const okKinds = {
    Kustomization: "kustomize.config.k8s.io/v1beta1",
    Component: "kustomize.config.k8s.io/v1alpha1",
  };
  if (okKinds[k.kind] !== k.apiVersion) errors.push(`apiVersion/kind ${k.apiVersion} ${k.kind} is not a Kustomization or Component`);
  const need = (entry, what, allowDir) => {
    const p = path.resolve(dir, entry);
    if (!fs.existsSync(p)) {
      errors.push(`${what} ${entry} does not exist`);
      return;
    }
    if (fs.statSync(p).isDirectory()) {
      if (!allowDir) errors.push(`${what} ${entry} is a folder`);
      else if (!fs.existsSync(path.join(p, "kustomization.yaml"))) errors.push(`${what} ${entry} has no kustomization.yaml`);
    } else {
      if (path.relative(dir, p).startsWith("..")) errors.push(`${what} ${entry} is outside the kustomization's folder (kustomize refuses it)`);
      used.add(p);
    }
  };
  for (const r of k.resources || []) need(r, "resource", true);
  for (const c of k.components || []) need(c, "component", true);
  for (const g of [...(k.configMapGenerator || []), ...(k.secretGenerator || [])])
    for (const file of g.files || []) need(file.includes("=") ? file.split("=")[1] : file, "generator file", false);
  for (const p of k.patches || []) {
    if (!p.path) continue;
    need(p.path, "patch", false);
    const abs = path.resolve(dir, p.path);
    patchFiles.set(abs, [...(patchFiles.get(abs) || []), p.target || null]);
  }
  if ((k.patchesStrategicMerge || []).length) errors.push("patchesStrategicMerge is deprecated: use patches");
  kustomizationErrors.set(f, errors);
}
for (const f of files.filter(isKustomization)) used.add(f);

// ---- every file ----
const allObjects = []; // { file, obj } of non-patch manifests
for (const f of files) {
  if (isKustomization(f) || patchFiles.has(f)) continue;
  for (const obj of parsed.get(f).objects) allObjects.push({ file: f, obj });
}

const results = new Map(); // file -> { errors, detail }
for (const f of files) results.set(f, { errors: [...parsed.get(f).errors], detail: [] });
for (const [f, errors] of kustomizationErrors) {
  const r = results.get(f);
  r.errors = [...errors];
  r.detail.push("kustomization, every reference exists");
}

for (const f of files) {
  if (isKustomization(f)) continue;
  const r = results.get(f);
  if (!used.has(f)) r.errors.push("not used by any kustomization.yaml");
  const objects = parsed.get(f).objects;
  if (patchFiles.has(f)) {
    for (const patch of objects) {
      const targets = allObjects.filter(
        ({ obj }) => obj.kind === patch.kind && obj.metadata && patch.metadata && obj.metadata.name === patch.metadata.name,
      );
      if (targets.length === 0) {
        r.errors.push(`patch for ${describe(patch)}: no such object among the manifests to check it against`);
        continue;
      }
      for (const t of targets) {
        const merged = smpMerge(t.obj, patch, null);
        const where = `patched onto ${rel(t.file)} ${describe(t.obj)}`;
        for (const e of await schemaErrors(merged)) r.errors.push(`${where}: ${e}`);
        for (const e of ffpoolChecks(merged)) r.errors.push(`${where}: ${e}`);
        queueStrict(merged, (e) => r.errors.push(`${where}: ${e}`));
        r.detail.push(`patch applied to ${describe(t.obj)}`);
      }
    }
    continue;
  }
  for (const obj of objects) {
    for (const e of await schemaErrors(obj)) r.errors.push(`${describe(obj)}: ${e}`);
    for (const e of ffpoolChecks(obj)) r.errors.push(`${describe(obj)}: ${e}`);
    queueStrict(obj, (e) => r.errors.push(`${describe(obj)}: ${e}`));
    r.detail.push(describe(obj));
  }
}

// ---- checks across one rendered set of objects ----
function selects(selector, labels) {
  if (!isObj(selector)) return false;
  const ml = selector.matchLabels || {};
  const me = selector.matchExpressions || [];
  if (Object.keys(ml).length === 0 && me.length === 0) return true; // {} selects everything
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
  for (const e of me) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values || []).includes(labels[e.key]);
    if (e.operator === "In" && !inValues) return false;
    if (e.operator === "NotIn" && inValues) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
function mebibytes(q) {
  const m = /^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q ?? ""));
  if (!m) return null;
  const f = { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024, k: 1000 / 1048576, M: 1e6 / 1048576, G: 1e9 / 1048576, T: 1e12 / 1048576 };
  return m[2] ? Number(m[1]) * f[m[2]] : Number(m[1]) / 1048576;
}
function renderedSetErrors(objects) {
  const errors = [];
  const ns = (o) => (o.metadata && o.metadata.namespace) || "";
  const workloads = objects.filter((o) => ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"].includes(o.kind) && podSpecOf(o));
  const budgets = objects.filter((o) => o.kind === "PodDisruptionBudget");
  for (const w of workloads) {
    const labels = (w.spec.template.metadata || {}).labels || {};
    const others = workloads.filter((o) => o !== w && ns(o) === ns(w) && selects(o.spec.selector, labels));
    if (others.length) errors.push(`${describe(w)}: its pods are also selected by ${others.map(describe).join(", ")}`);
    const pdbs = budgets.filter((b) => ns(b) === ns(w) && selects(b.spec.selector, labels));
    if (pdbs.length > 1) errors.push(`${describe(w)}: its pods are selected by ${pdbs.length} PodDisruptionBudgets (${pdbs.map(describe).join(", ")}): eviction refuses them`);
  }
  // worker.slots x worker.job_memory_limit_mb must fit the worker's memory limit.
  const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata && o.metadata.name === "ffpool-config");
  if (!cm || !isObj(cm.data)) return errors; // a set without the configuration (../base/worker, ../gpu/*)
  const cfg = parseAll(cm.data["ffpool.yaml"] || "").objects[0] || {};
  const cfgWorker = isObj(cfg.worker) ? cfg.worker : {};
  for (const w of workloads.filter((o) => o.kind === "Deployment" && isWorkerName(o.metadata.name))) {
    const c = (podSpecOf(w).containers || []).find((x) => x.name === "worker");
    if (!c) continue;
    const env = new Map((c.env || []).map((e) => [e.name, e.value]));
    const slots = Number(env.get("FFPOOL_WORKER_SLOTS") ?? cfgWorker.slots ?? 1);
    const perJob = Number(env.get("FFPOOL_WORKER_JOB_MEMORY_LIMIT_MB") ?? cfgWorker.job_memory_limit_mb ?? 4096);
    const limit = mebibytes(((c.resources || {}).limits || {}).memory);
    if (limit !== null && perJob > 0 && slots * perJob > limit)
      errors.push(`${describe(w)}: ${slots} slots x job_memory_limit_mb ${perJob} exceed its memory limit (${Math.round(limit)} MiB)`);
  }
  return errors;
}

// ---- rendered kustomizations (optional: needs kubectl) ----
let kubectl = null;
if (process.env.FFPOOL_KUSTOMIZE !== "0") {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    kubectl = "kubectl";
  } catch {
    kubectl = null;
  }
}
const rendered = [];
for (const f of files.filter(isKustomization)) {
  const k = parsed.get(f).objects[0] || {};
  if (k.kind !== "Kustomization") continue;
  const dir = path.dirname(f);
  const entry = { name: `kustomize ${rel(dir)}`, errors: [], detail: "" };
  rendered.push(entry);
  if (!kubectl) continue;
  let out;
  try {
    out = execFileSync(kubectl, ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    entry.errors.push(`kubectl kustomize failed: ${(e.stderr || e.message).toString().trim()}`);
    continue;
  }
  const { objects, errors } = parseAll(out);
  entry.errors.push(...errors);
  for (const obj of objects) {
    for (const e of await schemaErrors(obj)) entry.errors.push(`${describe(obj)}: ${e}`);
    for (const e of ffpoolChecks(obj)) entry.errors.push(`${describe(obj)}: ${e}`);
    queueStrict(obj, (e) => entry.errors.push(`${describe(obj)}: ${e}`));
  }
  entry.errors.push(...renderedSetErrors(objects));
  entry.detail = `${objects.length} objects rendered and valid`;
}

runStrict();

for (const f of files) {
  const r = results.get(f);
  report(rel(f), r.errors, [...new Set(r.detail)].join(", "));
}
for (const entry of rendered) {
  if (!kubectl)
    console.log(
      `skip ${entry.name}: ${process.env.FFPOOL_KUSTOMIZE === "0" ? "FFPOOL_KUSTOMIZE=0" : "kubectl not found (rendering is optional)"}`,
    );
  else report(entry.name, entry.errors, entry.detail);
}
console.log(`manifests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
