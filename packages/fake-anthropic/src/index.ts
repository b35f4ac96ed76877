export const placeholder = 'fake-anthropic';
