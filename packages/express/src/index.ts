export const placeholder = 'express';
