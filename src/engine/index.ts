// The engine: libtorch tensors with autograd, from TypeScript.
export { Tensor, Generator, tidy, dispose, noGrad, isGradEnabled, liveTensors, liveGenerators } from './tensor.js';
export type { DType, Device, MemoryFormat, Operand, AnyTypedArray, TensorContainer } from './tensor.js';
export type { Log, RunContext } from './context.js';
export * from './ops.js';
export { blasLibrary, describeBlas, type BlasLibrary } from './blas.js';
export * as F from './ops.js';
