// The Node.js side of a program the gate runs (see gate/program/node_bridge.py, its Python side).
//
// `node node_host.js CALLS_FD ANSWERS_FD`, in the program's folder, the run's spec as JSON on stdin.
// The program runs as the Pulumi CLI's Node.js language host runs it: the project's own
// `@pulumi/pulumi` (found from the program's folder, as `require` finds it), its `cmd/run` (which
// honours `main`, package.json's `main` and `exports`, TypeScript through ts-node with the project's
// tsconfig.json and typescript or the SDK's vendored ones, ES modules), the stack's config. It runs
// under the SDK's own mocks (`pulumi.runtime.setMocks`), but the mocks' monitor and the engine forward
// every call, as the protobuf message the SDK made, to the Python host, whose Monitor and Engine
// answer it exactly as they answer a Python program. What stays here is what only the program's own
// runtime can see: the values it makes secret (announced before it could print them), `secure:`
// config the gate could not decrypt (refused when read), and how its failure reads.
"use strict";

const fs = require("fs");
const net = require("net");
const path = require("path");
const util = require("util");
const Module = require("module");
const { createRequire } = Module;

const [CALLS, ANSWERS] = process.argv.slice(2, 4).map(Number);
const spec = JSON.parse(fs.readFileSync(0, "utf8"));
const HOST_FILE = __filename;

class GateRefusal extends Error {}  // the gate's own refusal: shown as its one line

// ---- the pipes ----------------------------------------------------------------------------------

function send(message) {
    let data = Buffer.from(JSON.stringify(message) + "\n");
    while (data.length > 0) {
        data = data.subarray(fs.writeSync(CALLS, data));
    }
}

let ended = false;
function end(outcome) {
    if (!ended) {
        ended = true;
        send({ end: outcome });
    }
}

const pending = new Map();
let nextCall = 0;
const answers = new net.Socket({ fd: ANSWERS, readable: true, writable: false });
answers.unref();  // only an outstanding call keeps the program's process alive
answers.setEncoding("utf8");
let partial = "";
answers.on("data", (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop();
    for (const line of lines) {
        const answer = JSON.parse(line);
        const waiting = pending.get(answer.id);
        pending.delete(answer.id);
        if (pending.size === 0) {
            answers.unref();
        }
        waiting(answer);
    }
});

/** Forward `request` (a protobuf message) to the Python host's `method`; `callback(err, response)`. */
function forward(method, request, responseType, callback) {
    const id = nextCall++;
    pending.set(id, (answer) => {
        if (answer.error !== undefined) {
            callback(new Error(answer.error), undefined);
        } else {
            const bytes = Buffer.from(answer.response, "base64");
            callback(null, responseType ? responseType.deserializeBinary(new Uint8Array(bytes)) : {});
        }
    });
    answers.ref();
    send({ call: id, method, request: Buffer.from(request.serializeBinary()).toString("base64") });
}

// ---- the project's SDK --------------------------------------------------------------------------

const projectRequire = createRequire(path.join(spec.node.pwd, "index.js"));
let runPath;
try {
    runPath = projectRequire.resolve("@pulumi/pulumi/cmd/run/run");
} catch (err) {
    end({ error: `the project has no @pulumi/pulumi (${err.code || err.message}): run \`npm install\` ` +
                 `in ${spec.node.pwd}`, kind: "gate" });
    process.exit(0);
}
const sdkRequire = createRequire(runPath);
sdkRequire("source-map-support/register");  // as cmd/run: a TypeScript program's lines in its errors
const sdk = (name) => sdkRequire(`../../${name}`);
const pulumi = sdk("index");
const mocks = sdk("runtime/mocks");
const settings = sdk("runtime/settings");
const state = sdk("runtime/state");
const runtimeConfig = sdk("runtime/config");
const output = sdk("output");
const errors = sdk("errors");
const resproto = sdk("proto/resource_pb");
const provproto = sdk("proto/provider_pb");

class GateMonitor extends mocks.MockMonitor {
    registerResource(req, callback) { forward("RegisterResource", req, resproto.RegisterResourceResponse, callback); }
    readResource(req, callback) { forward("ReadResource", req, resproto.ReadResourceResponse, callback); }
    invoke(req, callback) { forward("Invoke", req, provproto.InvokeResponse, callback); }
    registerResourceOutputs(req, callback) { forward("RegisterResourceOutputs", req, null, callback); }
}

const engine = { log: (req, callback) => forward("Log", req, null, callback) };

// ---- what the program makes secret --------------------------------------------------------------

/** A value as JSON can carry it (the host announces its strings and numbers). */
function plain(value, seen = new Set()) {
    if (value === null || ["string", "number", "boolean"].includes(typeof value)) {
        return value;
    }
    if (typeof value !== "object" || seen.has(value) || output.Output.isInstance(value)) {
        return null;
    }
    seen.add(value);
    if (Array.isArray(value)) {
        return value.map((v) => plain(v, seen));
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v, seen)]));
}

function announce(value) {
    const carried = plain(value);
    if (carried !== null) {
        send({ secrets: carried });
    }
}

function watchSecrets() {
    const plainSecret = output.secret;
    const secret = (value) => {
        const made = plainSecret(value);
        if (!(value instanceof Promise) && !output.Output.isInstance(value)) {
            announce(value);
        }
        // registered before the program can `apply` or await it: promise reactions run in order
        made.promise(true).then(announce, () => undefined);
        return made;
    };
    output.secret = secret;
    pulumi.secret = secret;
    // Config's secret getters make their outputs themselves: their value is announced as it is read.
    const prototype = pulumi.Config.prototype;
    for (const name of Object.getOwnPropertyNames(prototype).filter((n) => /^(get|require)Secret/.test(n))) {
        const plainGetter = prototype[name];
        prototype[name] = function (key, ...rest) {
            const value = runtimeConfig.getConfig(this.fullKey(key));
            if (value !== undefined) {
                announce(value);
            }
            return plainGetter.call(this, key, ...rest);
        };
    }
}

function guardSecureConfig() {
    const plainGet = runtimeConfig.getConfig;
    runtimeConfig.getConfig = (key) => {
        if (Object.prototype.hasOwnProperty.call(spec.secure_keys, key)) {
            throw new GateRefusal(spec.secure_keys[key]);
        }
        return plainGet(key);
    };
    pulumi.runtime.getConfig = runtimeConfig.getConfig;
}

// ---- how a failure reads ------------------------------------------------------------------------

/** A frame of the program's own code (not Node's, a package's, or this host's)? */
function own(line) {
    const frame = /^\s+at .*?\(?((?:file:\/\/)?[^()\s]+):\d+:\d+\)?$/.exec(line);
    if (!frame) {
        return !/^\s+at /.test(line);  // the message's lines stay; frames without a place go
    }
    const file = frame[1].replace(/^file:\/\//, "");
    return file !== HOST_FILE && !file.startsWith("node:") && !file.split(path.sep).includes("node_modules");
}

/** The error as the CLI's cmd/run shows it (cmd/run/error.js), with the program's own frames only. */
function stackOf(err) {
    let text;
    try {
        text = err && err.stack ? util.inspect(err) : String((err && err.message) || err);
    } catch (inspectError) {
        text = String((err && err.stack) || err);
    }
    return text.split("\n").filter(own).join("\n");
}

function refusalIn(err) {
    for (let cause = err, depth = 0; cause && depth < 10; cause = cause.cause, depth++) {
        if (cause instanceof GateRefusal) {
            return cause;
        }
    }
    return undefined;
}

/** What the CLI's cmd/run prints for an unhandled error, as the answer. */
function failure(err, program) {
    const refusal = refusalIn(err);
    if (refusal) {
        return { error: refusal.message, kind: "gate" };
    }
    let text;
    if (errors.RunError.isInstance(err)) {
        text = err.message;
    } else if (err && (err.name === "TSError" || err.name === SyntaxError.name)) {
        const [before] = String(err.stack || "").split(err.message);
        text = `Running program '${program}' failed with an unhandled exception:\n${before || ""}${err.message}`;
    } else if (errors.ResourceError.isInstance(err) && err.hideStack) {
        text = err.message;
    } else {
        text = `Running program '${program}' failed with an unhandled exception:\n${stackOf(err)}`;
    }
    return { error: text, kind: "program", exception: (err && err.name) || typeof err };
}

// ---- running --------------------------------------------------------------------------------------

function main() {
    const program = path.resolve(spec.node.pwd, spec.node.entry);
    const fail = (err) => {
        state.getStore().logErrorCount++;  // as cmd/run's handler: no "promises were still active" note
        end(failure(err, program));
        process.exit(0);
    };
    process.on("uncaughtException", fail);
    process.on("unhandledRejection", fail);
    process.on("exit", (code) => end({ error: `the program exited with code ${code}`, kind: "program" }));
    process.on("beforeExit", () => {  // the event loop is empty: the program has done all it will do
        if (!ended) {
            settings.waitForRPCs().then(() => {
                if (pending.size === 0) {
                    end({});
                }
            });
        }
    });

    mocks.setMocks({ newResource: () => ({}), call: () => ({}) }, spec.project, spec.stack, false, "organization");
    settings.setMockOptions(new GateMonitor({}), spec.project, spec.stack, false, "organization");
    settings.getEngine = () => engine;
    pulumi.runtime.setAllConfig(spec.config, spec.secret_keys);
    watchSecrets();
    guardSecureConfig();
    // cmd/run/run.js imports cmd/run/index.js, the CLI's entry, which starts a run of its own when
    // loaded: what run.js uses of it (the exit code that says "already reported") stands in for it.
    const entry = sdkRequire.resolve("./index");
    const stand = new Module(entry);
    Object.assign(stand, { filename: entry, loaded: true, exports: { nodeJSProcessExitedAfterLoggingUserActionableMessage: 32 } });
    Module._cache[entry] = stand;
    const run = require(runPath);
    const reported = () => true;  // the failure is ours to report (`fail`), not cmd/run's
    run.run({ _: [spec.node.entry], pwd: spec.node.pwd }, () => undefined, () => undefined, reported).catch(fail);
}

main();
