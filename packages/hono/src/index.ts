export const placeholder = 'hono';
