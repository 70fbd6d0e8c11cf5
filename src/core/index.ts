export * from "./errors.js";
export * from "./event.js";
export * from "./event-bus.js";
export * from "./hubs.js";
export * from "./live.js";
export * from "./permissions.js";
export * from "./ports.js";
export * from "./subject.js";
