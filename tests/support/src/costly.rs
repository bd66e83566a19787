//! Components that are cheap to write and costly to compile.

/// A component that passes every check made before compiling (it exports the runtime
/// interface's name, no function is over `MAX_FUNCTION_BYTES`, few locals) yet is
/// costly to compile: `functions` functions of
/// `statements` memory updates each (≈ 17 bytes a statement, nothing for the compiler
/// to drop). Compiling 4 functions of 30,000 statements took ≈ 230 MiB in a debug
/// build, 60 of them (30 MB, near every cap) ≈ 420 MiB and 18 s on 2 cores.
pub fn costly_component(functions: u32, statements: u32) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ComponentExportKind, ComponentExportSection, ComponentInstanceSection,
        Function, FunctionSection, Instruction, MemArg, MemArgTarget, MemorySection, MemoryType,
        Module, ModuleSection, TypeSection, ValType,
    };
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], []);
    let mut declared = FunctionSection::new();
    let mut code = CodeSection::new();
    let access = MemArg {
        offset: 0,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    };
    for _ in 0..functions {
        declared.function(0);
        let mut body = Function::new([]);
        for statement in 0..statements as i32 {
            // memory[4s] = memory[8s] + argument, addresses kept within the one page:
            // each address is a constant of its own, which Cranelift keeps apart.
            body.instruction(&Instruction::I32Const(statement * 4 % 60_000))
                .instruction(&Instruction::I32Const(statement * 8 % 60_000))
                .instruction(&Instruction::I32Load(access))
                .instruction(&Instruction::LocalGet(0))
                .instruction(&Instruction::I32Add)
                .instruction(&Instruction::I32Store(access));
        }
        body.instruction(&Instruction::End);
        code.function(&body);
    }
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut module = Module::new();
    module
        .section(&types)
        .section(&declared)
        .section(&memory)
        .section(&code);
    // An empty instance exported under the interface's name: enough for the checks
    // made before compiling, which read the export names.
    let mut instances = ComponentInstanceSection::new();
    instances.export_items(std::iter::empty::<(&str, ComponentExportKind, u32)>());
    let mut exports = ComponentExportSection::new();
    let name = format!(
        "{}@{}",
        runplane_engine::INTERFACE,
        runplane_engine::CONTRACT_VERSION
    );
    exports.export(&name, ComponentExportKind::Instance, 0, None);
    let mut component = wasm_encoder::Component::new();
    component
        .section(&ModuleSection(&module))
        .section(&instances)
        .section(&exports);
    component.finish()
}
