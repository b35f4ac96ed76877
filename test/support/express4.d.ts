// `express4` is express@4 installed under an alias; it ships no types, and its public API is the one
// @types/express describes closely enough for these tests.
declare module 'express4' {
  import express from 'express';
  export default express;
}
