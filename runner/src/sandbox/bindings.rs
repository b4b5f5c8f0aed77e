//! Host bindings generated from `guest-sdk/wit/transform.wit`, the one WIT source.

wasmtime::component::bindgen!({
    world: "transform",
    path: "../guest-sdk/wit",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "runner:transform/db.cursor": super::host::GuestCursor,
        "runner:transform/db.writer": super::host::GuestWriter,
        "runner:transform/db.pending-rows": super::host::GuestPending,
    },
});
