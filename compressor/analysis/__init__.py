"""The paper's analyses of what each method's ids look like (token stability)."""
